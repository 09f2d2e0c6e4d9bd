/* The peer of sql_bench: the same single-row INSERT and SELECT-by-primary-key statements, prepared
 * once, straight on sqlite3 and MariaDB Connector/C (mysql_stmt_*), with the settings the Olympus
 * adapters use (SQLite: WAL, synchronous=NORMAL; MariaDB: autocommit).
 *
 *   sql_baseline sqlite PATH SECONDS
 *   sql_baseline mariadb HOST PORT USER PASSWORD DATABASE SECONDS
 *
 * Each phase runs for SECONDS; prints "insert_per_s select_per_s rows". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <sqlite3.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char* what, const char* detail) {
    fprintf(stderr, "sql_baseline: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

static int run_sqlite(const char* path, double seconds) {
    sqlite3* db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) die("open", sqlite3_errmsg(db));
    char* error = NULL;
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                     "CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty "
                     "INTEGER NOT NULL)",
                     NULL, NULL, &error) != SQLITE_OK)
        die("setup", error);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* insert = NULL;
    sqlite3_stmt* select = NULL;
    if (sqlite3_prepare_v3(db, "INSERT INTO bench (name, qty) VALUES (?, ?)", -1, SQLITE_PREPARE_PERSISTENT,
                           &insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, "SELECT id, name, qty FROM bench WHERE id = ?", -1, SQLITE_PREPARE_PERSISTENT,
                           &select, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));

    int64_t rows = 0;
    double start = now_s(), end = start + seconds;
    do {
        for (int i = 0; i < 64; ++i) {
            char name[32];
            int n = snprintf(name, sizeof name, "item-%lld", (long long)rows);
            sqlite3_bind_text(insert, 1, name, n, SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert, 2, rows);
            if (sqlite3_step(insert) != SQLITE_DONE) die("insert", sqlite3_errmsg(db));
            sqlite3_reset(insert);
            ++rows;
        }
    } while (now_s() < end);
    double inserts = (double)rows / (now_s() - start);

    int64_t reads = 0;
    start = now_s();
    end = start + seconds;
    do {
        for (int i = 0; i < 64; ++i) {
            sqlite3_bind_int64(select, 1, 1 + reads % rows);
            if (sqlite3_step(select) != SQLITE_ROW) die("select", sqlite3_errmsg(db));
            /* Read the row as a caller would. */
            volatile int64_t id = sqlite3_column_int64(select, 0);
            volatile const unsigned char* text = sqlite3_column_text(select, 1);
            volatile int64_t qty = sqlite3_column_int64(select, 2);
            (void)id, (void)text, (void)qty;
            sqlite3_reset(select);
            ++reads;
        }
    } while (now_s() < end);
    double selects = (double)reads / (now_s() - start);
    sqlite3_finalize(insert);
    sqlite3_finalize(select);
    sqlite3_close(db);
    printf("%.0f %.0f %lld\n", inserts, selects, (long long)rows);
    return 0;
}

static MYSQL_STMT* prepare(MYSQL* db, const char* sql) {
    MYSQL_STMT* stmt = mysql_stmt_init(db);
    if (!stmt || mysql_stmt_prepare(stmt, sql, (unsigned long)strlen(sql)) != 0)
        die("prepare", mysql_error(db));
    return stmt;
}

static int run_mariadb(const char* host, unsigned port, const char* user, const char* password,
                       const char* database, double seconds) {
    MYSQL* db = mysql_init(NULL);
    if (!mysql_real_connect(db, host, user, password, database, port, NULL, 0))
        die("connect", mysql_error(db));
    mysql_set_character_set(db, "utf8mb4");
    mysql_autocommit(db, 1);
    if (mysql_query(db, "SET SESSION sql_mode='STRICT_ALL_TABLES'") != 0 ||
        mysql_query(db,
                    "CREATE TABLE IF NOT EXISTS bench (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name "
                    "VARCHAR(64) NOT NULL,"
                    " qty BIGINT NOT NULL) ENGINE=InnoDB") != 0)
        die("setup", mysql_error(db));
    MYSQL_STMT* insert = prepare(db, "INSERT INTO bench (name, qty) VALUES (?, ?)");
    MYSQL_STMT* select = prepare(db, "SELECT id, name, qty FROM bench WHERE id = ?");

    char name[32];
    unsigned long name_length = 0;
    long long value = 0;
    MYSQL_BIND in[2];
    memset(in, 0, sizeof in);
    in[0].buffer_type = MYSQL_TYPE_STRING;
    in[0].buffer = name;
    in[0].length = &name_length;
    in[1].buffer_type = MYSQL_TYPE_LONGLONG;
    in[1].buffer = &value;
    if (mysql_stmt_bind_param(insert, in) != 0) die("bind", mysql_stmt_error(insert));

    long long rows = 0;
    double start = now_s(), end = start + seconds;
    do {
        for (int i = 0; i < 16; ++i) {
            name_length = (unsigned long)snprintf(name, sizeof name, "item-%lld", rows);
            value = rows;
            if (mysql_stmt_execute(insert) != 0) die("insert", mysql_stmt_error(insert));
            ++rows;
        }
    } while (now_s() < end);
    double inserts = (double)rows / (now_s() - start);

    long long key = 0;
    MYSQL_BIND param;
    memset(&param, 0, sizeof param);
    param.buffer_type = MYSQL_TYPE_LONGLONG;
    param.buffer = &key;
    if (mysql_stmt_bind_param(select, &param) != 0) die("bind", mysql_stmt_error(select));
    long long out_id = 0, out_qty = 0;
    char out_name[65];
    unsigned long out_name_length = 0;
    MYSQL_BIND out[3];
    memset(out, 0, sizeof out);
    out[0].buffer_type = MYSQL_TYPE_LONGLONG;
    out[0].buffer = &out_id;
    out[1].buffer_type = MYSQL_TYPE_STRING;
    out[1].buffer = out_name;
    out[1].buffer_length = sizeof out_name;
    out[1].length = &out_name_length;
    out[2].buffer_type = MYSQL_TYPE_LONGLONG;
    out[2].buffer = &out_qty;
    if (mysql_stmt_bind_result(select, out) != 0) die("bind result", mysql_stmt_error(select));

    long long reads = 0;
    start = now_s();
    end = start + seconds;
    do {
        for (int i = 0; i < 16; ++i) {
            key = 1 + reads % rows;
            if (mysql_stmt_execute(select) != 0) die("select", mysql_stmt_error(select));
            if (mysql_stmt_fetch(select) != 0) die("fetch", mysql_stmt_error(select));
            while (mysql_stmt_fetch(select) == 0) {
            }
            mysql_stmt_free_result(select);
            ++reads;
        }
    } while (now_s() < end);
    double selects = (double)reads / (now_s() - start);
    mysql_stmt_close(insert);
    mysql_stmt_close(select);
    mysql_close(db);
    printf("%.0f %.0f %lld\n", inserts, selects, rows);
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 4 && strcmp(argv[1], "sqlite") == 0) return run_sqlite(argv[2], atof(argv[3]));
    if (argc == 8 && strcmp(argv[1], "mariadb") == 0)
        return run_mariadb(argv[2], (unsigned)atoi(argv[3]), argv[4], argv[5], argv[6], atof(argv[7]));
    fprintf(stderr,
            "usage: sql_baseline sqlite PATH SECONDS | mariadb HOST PORT USER PASSWORD DATABASE SECONDS\n");
    return 2;
}
