#include "metrics/metrics.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <dirent.h>
#include <fcntl.h>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <sys/resource.h>
#include <unistd.h>
#include <variant>

namespace olympus::metrics {

namespace {

// Enough shards that the few threads of an I/O pool rarely share one; a power of two is not needed.
constexpr std::size_t kShards = 8;

// Threads are assigned shards round-robin on first use.
std::size_t shard_index() {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed) % kShards;
    return index;
}

// Eight 64-bit slots filling one cache line.
struct alignas(64) Line {
    std::array<std::atomic<std::uint64_t>, 8> slot{};
};

void add_double_bits(std::atomic<std::uint64_t>& bits, double amount) {
    std::uint64_t current = bits.load(std::memory_order_relaxed);
    while (!bits.compare_exchange_weak(current,
                                       std::bit_cast<std::uint64_t>(std::bit_cast<double>(current) + amount),
                                       std::memory_order_relaxed)) {
    }
}

bool valid_metric_name(std::string_view name) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

bool valid_label_name(std::string_view name) {
    if (name.empty() || name.starts_with("__")) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

// Label values in the family's order; compares with a vector of owned strings or a span of views,
// so that a lookup needs no allocation.
struct KeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                            [](std::string_view x, std::string_view y) { return x < y; });
    }
};

void append_escaped_label_value(std::string& out, std::string_view value) {
    for (char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
}

void append_escaped_help(std::string& out, std::string_view help) {
    for (char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

// A file under /proc read whole; empty on error.
std::string read_proc_file(const char* path) {
    std::string content;
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return content;
    char buf[4096];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        content.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return content;
}

std::vector<std::string_view> split_spaces(std::string_view text) {
    std::vector<std::string_view> tokens;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
        std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
        if (i > start) tokens.push_back(text.substr(start, i - start));
    }
    return tokens;
}

double to_double(std::string_view token) {
    std::uint64_t value = 0;
    std::from_chars(token.data(), token.data() + token.size(), value);
    return static_cast<double>(value);
}

}  // namespace

// Formats a sample value the way Prometheus parses it: exact integers without exponent or
// fraction, +Inf/-Inf/NaN spelled as Go's ParseFloat accepts, otherwise the shortest round-trip
// digits, in fixed notation from 1e-4 up (as Go clients write, so that le="0.0005" matches what
// dashboards query) and in scientific notation beyond.
std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char buf[64];
    constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
    const double magnitude = std::fabs(value);
    if (value == std::trunc(value) && magnitude <= kExactIntegerLimit) {
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(value));
        return std::string(buf, end);
    }
    const auto format = magnitude >= 1e-4 && magnitude < kExactIntegerLimit ? std::chars_format::fixed
                                                                            : std::chars_format::scientific;
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, format);
    return std::string(buf, end);
}

// ---- Counter -------------------------------------------------------------------------------------

struct Counter::Impl {
    std::array<Line, kShards> shards{};  // slot 0 of each line holds the shard's total as double bits
};

void Counter::inc(double amount) {
    if (!(amount >= 0.0)) return;
    add_double_bits(impl_->shards[shard_index()].slot[0], amount);
}

double Counter::value() const {
    double total = 0.0;
    for (const Line& line : impl_->shards)
        total += std::bit_cast<double>(line.slot[0].load(std::memory_order_relaxed));
    return total;
}

// ---- Gauge ---------------------------------------------------------------------------------------

// A gauge can be set, so it cannot be sharded: one atomic.
struct Gauge::Impl {
    std::atomic<double> value{0.0};
};

void Gauge::set(double value) {
    impl_->value.store(value, std::memory_order_relaxed);
}
void Gauge::add(double amount) {
    impl_->value.fetch_add(amount, std::memory_order_relaxed);
}
double Gauge::value() const {
    return impl_->value.load(std::memory_order_relaxed);
}

// ---- Histogram -----------------------------------------------------------------------------------

struct Histogram::Impl {
    explicit Impl(const std::vector<double>& upper_bounds)
        : bounds(upper_bounds),
          lines_per_shard((bounds.size() + 2 + 7) / 8),
          lines(std::make_unique<Line[]>(kShards * lines_per_shard)) {}

    // Per shard: slot 0 is the sum (double bits), slot 1 + i counts values in bucket i (not
    // cumulative; the last bucket is +Inf). The count is the sum of the buckets, so a scrape always
    // sees _count equal to the +Inf bucket.
    std::atomic<std::uint64_t>& slot(std::size_t shard, std::size_t index) const {
        return lines[shard * lines_per_shard + index / 8].slot[index % 8];
    }

    struct Snapshot {
        std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
        double sum = 0.0;
    };
    Snapshot snapshot() const {
        Snapshot snap;
        snap.cumulative.assign(bounds.size() + 1, 0);
        for (std::size_t s = 0; s < kShards; ++s) {
            snap.sum += std::bit_cast<double>(slot(s, 0).load(std::memory_order_relaxed));
            for (std::size_t b = 0; b <= bounds.size(); ++b) {
                snap.cumulative[b] += slot(s, b + 1).load(std::memory_order_relaxed);
            }
        }
        for (std::size_t b = 1; b < snap.cumulative.size(); ++b) snap.cumulative[b] += snap.cumulative[b - 1];
        return snap;
    }

    const std::vector<double> bounds;
    const std::size_t lines_per_shard;
    const std::unique_ptr<Line[]> lines;
};

void Histogram::observe(double value) {
    const auto& bounds = impl_->bounds;
    // First bound >= value: buckets are inclusive upper bounds.
    const auto bucket =
        static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
    const std::size_t shard = shard_index();
    impl_->slot(shard, bucket + 1).fetch_add(1, std::memory_order_relaxed);
    add_double_bits(impl_->slot(shard, 0), value);
}

std::uint64_t Histogram::count() const {
    std::uint64_t total = 0;
    for (std::size_t s = 0; s < kShards; ++s) {
        for (std::size_t b = 0; b <= impl_->bounds.size(); ++b) {
            total += impl_->slot(s, b + 1).load(std::memory_order_relaxed);
        }
    }
    return total;
}

double Histogram::sum() const {
    double total = 0.0;
    for (std::size_t s = 0; s < kShards; ++s) {
        total += std::bit_cast<double>(impl_->slot(s, 0).load(std::memory_order_relaxed));
    }
    return total;
}

// ---- Family --------------------------------------------------------------------------------------

template <class Metric>
struct Family<Metric>::Impl {
    std::string name;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> buckets;  // histograms only

    mutable std::mutex mutex;
    std::map<std::vector<std::string>, Metric, KeyLess> children;

    Metric make_child() const {
        Metric metric;
        if constexpr (std::is_same_v<Metric, Histogram>) {
            metric.impl_ = std::make_shared<typename Metric::Impl>(buckets);
        } else {
            metric.impl_ = std::make_shared<typename Metric::Impl>();
        }
        return metric;
    }

    Metric& child(std::span<const std::string_view> values) {
        if (values.size() != label_names.size()) {
            throw std::invalid_argument("metric " + name + " takes " + std::to_string(label_names.size()) +
                                        " label values, got " + std::to_string(values.size()));
        }
        std::lock_guard lock(mutex);
        auto it = children.find(values);
        if (it == children.end()) {
            it = children.emplace(std::vector<std::string>(values.begin(), values.end()), make_child()).first;
        }
        return it->second;
    }
};

template <class Metric>
Metric& Family<Metric>::labels(std::initializer_list<std::string_view> values) {
    return impl_->child(std::span<const std::string_view>(values.begin(), values.size()));
}

template <class Metric>
Metric& Family<Metric>::labels(const std::vector<std::string>& values) {
    std::vector<std::string_view> views(values.begin(), values.end());
    return impl_->child(views);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ------------------------------------------------------------------------------------

const std::vector<double>& default_latency_buckets() {
    static const std::vector<double> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
    return kBuckets;
}

struct Registry::Impl {
    using AnyFamily = std::variant<Family<Counter>, Family<Gauge>, Family<Histogram>>;

    mutable std::mutex mutex;  // guards families and collectors
    std::map<std::string, AnyFamily, std::less<>> families;
    std::vector<std::shared_ptr<std::function<void()>>> collectors;
    mutable std::mutex collect_mutex;  // one scrape runs the callbacks at a time

    template <class Metric>
    Family<Metric>& add(std::string name, std::string help, std::vector<std::string> label_names,
                        std::vector<double> buckets) {
        if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name '" + name + "'");
        for (const auto& label : label_names) {
            if (!valid_label_name(label) || (std::is_same_v<Metric, Histogram> && label == "le")) {
                throw std::invalid_argument("invalid label name '" + label + "' for metric " + name);
            }
        }
        if (std::is_same_v<Metric, Counter> && !name.ends_with("_total")) {
            throw std::invalid_argument("counter name '" + name + "' must end in _total");
        }
        if constexpr (std::is_same_v<Metric, Histogram>) {
            if (buckets.empty() || !std::is_sorted(buckets.begin(), buckets.end()) ||
                std::adjacent_find(buckets.begin(), buckets.end()) != buckets.end() ||
                std::any_of(buckets.begin(), buckets.end(), [](double b) { return !std::isfinite(b); })) {
                throw std::invalid_argument("histogram " + name +
                                            " needs finite, strictly increasing bucket bounds");
            }
        }

        std::lock_guard lock(mutex);
        if (auto it = families.find(name); it != families.end()) {
            auto* existing = std::get_if<Family<Metric>>(&it->second);
            if (existing == nullptr || existing->impl_->label_names != label_names ||
                existing->impl_->buckets != buckets) {
                throw std::invalid_argument("metric " + name +
                                            " is already registered with another type or labels");
            }
            return *existing;
        }
        Family<Metric> family;
        family.impl_ = std::make_shared<typename Family<Metric>::Impl>();
        family.impl_->name = name;
        family.impl_->help = std::move(help);
        family.impl_->label_names = std::move(label_names);
        family.impl_->buckets = std::move(buckets);
        // A metric without labels is exported (as zero) from the start, as Prometheus clients do.
        if (family.impl_->label_names.empty()) family.impl_->child({});
        auto [it, inserted] = families.emplace(std::move(name), std::move(family));
        return std::get<Family<Metric>>(it->second);
    }

    static void append_labels(std::string& out, const std::vector<std::string>& names,
                              const std::vector<std::string>& values, std::string_view le = {}) {
        if (names.empty() && le.empty()) return;
        out += '{';
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (i > 0) out += ',';
            out += names[i];
            out += "=\"";
            append_escaped_label_value(out, values[i]);
            out += '"';
        }
        if (!le.empty()) {
            if (!names.empty()) out += ',';
            out += "le=\"";
            out += le;
            out += '"';
        }
        out += '}';
    }

    template <class Metric>
    static void render_family(std::string& out, const Family<Metric>& family, std::string_view type) {
        const auto& f = *family.impl_;
        out += "# HELP ";
        out += f.name;
        out += ' ';
        append_escaped_help(out, f.help);
        out += "\n# TYPE ";
        out += f.name;
        out += ' ';
        out += type;
        out += '\n';
        std::lock_guard lock(f.mutex);
        for (const auto& [values, metric] : f.children) {
            if constexpr (std::is_same_v<Metric, Histogram>) {
                const auto snap = metric.impl_->snapshot();
                for (std::size_t b = 0; b < snap.cumulative.size(); ++b) {
                    const std::string le = b < f.buckets.size() ? format_value(f.buckets[b]) : "+Inf";
                    out += f.name;
                    out += "_bucket";
                    append_labels(out, f.label_names, values, le);
                    out += ' ';
                    out += format_value(static_cast<double>(snap.cumulative[b]));
                    out += '\n';
                }
                out += f.name;
                out += "_sum";
                append_labels(out, f.label_names, values);
                out += ' ';
                out += format_value(snap.sum);
                out += '\n';
                out += f.name;
                out += "_count";
                append_labels(out, f.label_names, values);
                out += ' ';
                out += format_value(static_cast<double>(snap.cumulative.back()));
                out += '\n';
            } else {
                out += f.name;
                append_labels(out, f.label_names, values);
                out += ' ';
                out += format_value(metric.value());
                out += '\n';
            }
        }
    }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names) {
    return impl_->add<Counter>(std::move(name), std::move(help), std::move(label_names), {});
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
    return impl_->add<Gauge>(std::move(name), std::move(help), std::move(label_names), {});
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> label_names, std::vector<double> buckets) {
    return impl_->add<Histogram>(std::move(name), std::move(help), std::move(label_names),
                                 std::move(buckets));
}

void Registry::on_collect(std::function<void()> callback) {
    std::lock_guard lock(impl_->mutex);
    impl_->collectors.push_back(std::make_shared<std::function<void()>>(std::move(callback)));
}

std::string Registry::render() const {
    std::lock_guard collect_lock(impl_->collect_mutex);
    std::vector<std::shared_ptr<std::function<void()>>> collectors;
    {
        std::lock_guard lock(impl_->mutex);
        collectors = impl_->collectors;
    }
    // Outside the registry lock: a callback may register or look up metrics.
    for (const auto& collect : collectors) (*collect)();

    std::string out;
    out.reserve(4096);
    std::lock_guard lock(impl_->mutex);
    for (const auto& [name, family] : impl_->families) {
        std::visit(
            [&out](const auto& f) {
                using F = std::decay_t<decltype(f)>;
                if constexpr (std::is_same_v<F, Family<Counter>>) {
                    Impl::render_family(out, f, "counter");
                } else if constexpr (std::is_same_v<F, Family<Gauge>>) {
                    Impl::render_family(out, f, "gauge");
                } else {
                    Impl::render_family(out, f, "histogram");
                }
            },
            family);
    }
    return out;
}

// ---- Process metrics -----------------------------------------------------------------------------

void register_process_metrics(Registry& registry) {
    Counter cpu =
        registry.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
            .labels({});
    Gauge resident =
        registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").labels({});
    Gauge virtual_memory =
        registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").labels({});
    Gauge open_fds = registry.gauge("process_open_fds", "Number of open file descriptors.").labels({});
    Gauge max_fds = registry.gauge("process_max_fds", "Maximum number of open file descriptors.").labels({});
    Gauge start_time =
        registry.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
            .labels({});

    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page_size = static_cast<double>(::sysconf(_SC_PAGESIZE));

    // The start time never changes: btime (boot time, /proc/stat) plus starttime (field 22 of
    // /proc/self/stat, in clock ticks since boot).
    double boot_time = 0.0;
    {
        const std::string stat = read_proc_file("/proc/stat");
        if (auto pos = stat.find("\nbtime "); pos != std::string::npos) {
            auto tokens = split_spaces(std::string_view(stat).substr(pos + 7, 24));
            if (!tokens.empty()) boot_time = to_double(tokens[0]);
        }
    }

    registry.on_collect([=]() mutable {
        const std::string stat = read_proc_file("/proc/self/stat");
        // The command name (field 2) is in parentheses and may contain spaces: fields are counted
        // from the last ')'; tokens[0] is field 3.
        if (auto close = stat.rfind(')'); close != std::string::npos) {
            auto tokens = split_spaces(std::string_view(stat).substr(close + 1));
            if (tokens.size() > 19) {
                const double cpu_seconds = (to_double(tokens[11]) + to_double(tokens[12])) / ticks;
                const double delta = cpu_seconds - cpu.value();
                if (delta > 0) cpu.inc(delta);
                start_time.set(boot_time + to_double(tokens[19]) / ticks);
            }
        }

        const std::string statm_text = read_proc_file("/proc/self/statm");
        const auto statm = split_spaces(statm_text);
        if (statm.size() >= 2) {
            virtual_memory.set(to_double(statm[0]) * page_size);
            resident.set(to_double(statm[1]) * page_size);
        }

        if (DIR* dir = ::opendir("/proc/self/fd")) {
            double count = 0;
            const int own_fd = ::dirfd(dir);
            while (const dirent* entry = ::readdir(dir)) {
                std::string_view name = entry->d_name;
                if (name == "." || name == ".." || name == std::to_string(own_fd)) continue;
                ++count;
            }
            ::closedir(dir);
            open_fds.set(count);
        }

        rlimit limit{};
        if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
            max_fds.set(limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                                        : static_cast<double>(limit.rlim_cur));
        }
    });
}

}  // namespace olympus::metrics
