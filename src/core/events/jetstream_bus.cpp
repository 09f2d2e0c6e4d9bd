#include "events/jetstream_bus.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <thread>
#include <unordered_map>

#include <nats/nats.h>

#include "log/log.hpp"

namespace olympus::events {
namespace {

constexpr const char* kMsgIdHeader = "Nats-Msg-Id";  // JetStream's de-duplication key

std::int64_t nanos(std::chrono::nanoseconds duration) {
    return duration.count();
}

// libnats keeps a per-thread text of the last error; it says more than the status name.
std::string nats_error(natsStatus status, jsErrCode js_code = static_cast<jsErrCode>(0)) {
    std::string text = natsStatus_GetText(status);
    natsStatus last = NATS_OK;
    const char* detail = nats_GetLastError(&last);
    if (detail != nullptr && *detail != '\0' && last == status) text += std::string(": ") + detail;
    if (js_code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(js_code)) + ")";
    return text;
}

// URLs may carry user:password@; logs and errors show "***@" instead.
std::string redact(std::string_view urls) {
    std::string out;
    std::size_t start = 0;
    while (start <= urls.size()) {
        const auto comma = urls.find(',', start);
        std::string_view url =
            urls.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        const auto scheme = url.find("://");
        const auto at = url.rfind('@');
        if (!out.empty()) out += ',';
        if (scheme != std::string_view::npos && at != std::string_view::npos && at > scheme) {
            out += std::string(url.substr(0, scheme + 3)) + "***" + std::string(url.substr(at));
        } else {
            out += url;
        }
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

// A natsMsg carrying the event in the structured JSON mode, with its id as the de-duplication key.
natsMsg* make_message(const CloudEvent& event) {
    check_event_type(event.type);
    const std::string body = event.serialize();
    natsMsg* message = nullptr;
    natsStatus status =
        natsMsg_Create(&message, event.type.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
    if (status == NATS_OK) status = natsMsgHeader_Set(message, kMsgIdHeader, event.id.c_str());
    if (status == NATS_OK) {
        status = natsMsgHeader_Set(message, "Content-Type", std::string(kCloudEventsJsonMediaType).c_str());
    }
    if (status != NATS_OK) {
        natsMsg_Destroy(message);
        throw BusError("event bus: cannot build the message for " + event.type + ": " + nats_error(status));
    }
    return message;
}

void on_disconnected(natsConnection* connection, void*) {
    if (natsConnection_IsClosed(connection)) return;  // closed on purpose, not lost
    log::warn("NATS connection lost; reconnecting");
}
void on_reconnected(natsConnection* connection, void*) {
    char url[256] = {};
    natsConnection_GetConnectedUrl(connection, url, sizeof(url));
    log::info("NATS connection restored", {{"server.address", redact(url)}});
}
void on_async_error(natsConnection*, natsSubscription*, natsStatus status, void*) {
    log::warn("NATS asynchronous error", {{"error.message", natsStatus_GetText(status)}});
}

// libnats runs threads of its own (timers, asynchronous callbacks) until nats_Close. The library is
// opened with the first bus and closed, waiting for those threads, when the last one is gone, so
// that none outlive their use: a process that forks afterwards (a death test, a daemon) inherits no
// half-owned thread.
class LibraryUse {
  public:
    LibraryUse() {
        std::lock_guard lock(mutex());
        if (users() == 0) {
            const natsStatus status = nats_Open(-1);
            if (status != NATS_OK)
                throw BusError("event bus: cannot initialise libnats: " + nats_error(status));
        }
        ++users();
    }
    ~LibraryUse() {
        std::lock_guard lock(mutex());
        if (--users() > 0) return;
        if (nats_CloseAndWait(5'000) != NATS_OK) log::warn("libnats did not shut down within 5 s");
    }
    LibraryUse(const LibraryUse&) = delete;
    LibraryUse& operator=(const LibraryUse&) = delete;

  private:
    // nats_Open and nats_Close must not run concurrently.
    static std::mutex& mutex() {
        static std::mutex instance;
        return instance;
    }
    static int& users() {
        static int count = 0;
        return count;
    }
};

}  // namespace

StreamSpec domain_stream(std::string_view domain) {
    std::string name = "OLYMPUS_";
    for (char c : domain) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    name += 'S';
    return StreamSpec{std::move(name), {"olympus." + std::string(domain) + ".>"}};
}

// The connection and the JetStream contexts, shared by the bus and its subscriptions so that a
// subscription outliving the bus never sees a destroyed connection.
struct JetStreamBus::Shared {
    LibraryUse library;  // first: the library outlives everything below
    JetStreamOptions options;
    natsConnection* connection = nullptr;
    jsCtx* js = nullptr;        // synchronous publishes, consumers, streams
    jsCtx* async_js = nullptr;  // publish_batch: asynchronous publishes reported to on_async_ack

    // The batch being published (publish_batch runs one batch at a time).
    std::mutex batch_serial;
    std::mutex batch_mutex;
    std::unordered_map<std::string, std::size_t> batch_index;  // event id → position
    std::vector<std::uint8_t> batch_state;                     // 0 waiting, 1 stored, 2 refused
    std::string batch_error;

    ~Shared() {
        if (connection != nullptr) natsConnection_Close(connection);
        jsCtx_Destroy(async_js);
        jsCtx_Destroy(js);
        natsConnection_Destroy(connection);
    }

    static void on_async_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* closure) {
        auto& self = *static_cast<Shared*>(closure);
        const char* id = nullptr;
        if (natsMsgHeader_Get(message, kMsgIdHeader, &id) == NATS_OK && id != nullptr) {
            std::lock_guard lock(self.batch_mutex);
            const auto found = self.batch_index.find(id);
            if (found != self.batch_index.end()) {
                self.batch_state[found->second] = ack != nullptr ? 1 : 2;
                if (ack == nullptr && self.batch_error.empty() && error != nullptr) {
                    self.batch_error =
                        "event " + std::string(id) + " refused: " +
                        (error->ErrText != nullptr ? std::string(error->ErrText)
                                                   : std::string(natsStatus_GetText(error->Err)));
                }
            }
        }
        natsMsg_Destroy(message);
    }
};

namespace {

class JetStreamSubscription final : public Subscription {
  public:
    JetStreamSubscription(std::shared_ptr<JetStreamBus::Shared> shared, natsSubscription* subscription,
                          SubscribeOptions options, Handler handler)
        : shared_(std::move(shared)),
          subscription_(subscription),
          options_(std::move(options)),
          handler_(std::move(handler)),
          worker_([this] { run(); }) {}

    ~JetStreamSubscription() override {
        stop_ = true;
        worker_.join();
        // Destroy only: Unsubscribe would be harmless for a bound consumer, but the durable state
        // belongs to the server, not to this process.
        natsSubscription_Destroy(subscription_);
    }

  private:
    void run() {
        const int wait_ms = static_cast<int>(shared_->options.fetch_wait.count());
        while (!stop_) {
            natsMsgList list{};
            jsErrCode js_code = static_cast<jsErrCode>(0);
            const natsStatus status =
                natsSubscription_Fetch(&list, subscription_, shared_->options.fetch_batch, wait_ms, &js_code);
            if (status == NATS_TIMEOUT) continue;
            if (status == NATS_CONNECTION_CLOSED || status == NATS_INVALID_SUBSCRIPTION) {
                if (!stop_) {
                    log::warn("event subscription ended: connection closed",
                              {{"event.consumer", options_.durable_name}});
                }
                return;
            }
            if (status != NATS_OK) {
                // Typically disconnected: libnats reconnects; pause rather than spin.
                log::debug("event fetch failed", {{"event.consumer", options_.durable_name},
                                                  {"error.message", nats_error(status, js_code)}});
                std::this_thread::sleep_for(shared_->options.fetch_wait);
                continue;
            }
            auto refreshed = std::chrono::steady_clock::now();
            for (int i = 0; i < list.Count; ++i) {
                // Fetched but not to be handled: hand it back now rather than after ack_wait.
                if (stop_) {
                    natsMsg_Nak(list.Msgs[i], nullptr);
                    continue;
                }
                // The server's ack timer runs for every event of the batch from the fetch on: when
                // slow handlers have used half of it, tell the server the rest are still in hand,
                // so that it does not deliver them to someone else meanwhile.
                if (std::chrono::steady_clock::now() - refreshed > options_.ack_wait / 2) {
                    for (int j = i; j < list.Count; ++j) natsMsg_InProgress(list.Msgs[j], nullptr);
                    refreshed = std::chrono::steady_clock::now();
                }
                handle(list.Msgs[i]);
            }
            natsMsgList_Destroy(&list);
        }
    }

    void handle(natsMsg* message) {
        CloudEvent event;
        try {
            event = CloudEvent::parse(std::string_view(
                natsMsg_GetData(message), static_cast<std::size_t>(natsMsg_GetDataLength(message))));
        } catch (const InvalidEvent& e) {
            // Redelivering a malformed message cannot help: terminate it, loudly.
            log::error("malformed event dropped", {{"event.consumer", options_.durable_name},
                                                   {"nats.subject", natsMsg_GetSubject(message)},
                                                   {"error.message", e.what()}});
            natsMsg_Term(message, nullptr);
            return;
        }
        std::string failure;
        try {
            handler_(event);
        } catch (const std::exception& e) {
            failure = e.what();
            if (failure.empty()) failure = "exception without a message";
        } catch (...) {
            failure = "non-standard exception";
        }
        if (failure.empty()) {
            // Fire-and-forget ack: if it is lost the event comes again, which consumers tolerate.
            const natsStatus status = natsMsg_Ack(message, nullptr);
            if (status != NATS_OK) {
                log::warn("event ack not sent; the event will be delivered again",
                          {{"event.id", event.id},
                           {"event.consumer", options_.durable_name},
                           {"error.message", natsStatus_GetText(status)}});
            }
            return;
        }
        std::int64_t deliveries = 1;
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, message) == NATS_OK) {
            deliveries = static_cast<std::int64_t>(meta->NumDelivered);
            jsMsgMetaData_Destroy(meta);
        }
        if (deliveries >= options_.max_deliver) {
            log::error("event handler failed for the last time; event dropped",
                       {{"event.id", event.id},
                        {"event.action", event.type},
                        {"event.consumer", options_.durable_name},
                        {"event.deliveries", deliveries},
                        {"error.message", failure}});
            natsMsg_Term(message, nullptr);
            return;
        }
        const auto delay = retry_delay(options_, static_cast<int>(deliveries));
        log::warn("event handler failed; event will be delivered again",
                  {{"event.id", event.id},
                   {"event.action", event.type},
                   {"event.consumer", options_.durable_name},
                   {"event.deliveries", deliveries},
                   {"event.retry_in_ms", delay.count()},
                   {"error.message", failure}});
        natsMsg_NakWithDelay(message, delay.count(), nullptr);
    }

    std::shared_ptr<JetStreamBus::Shared> shared_;
    natsSubscription* subscription_;
    SubscribeOptions options_;
    Handler handler_;
    std::atomic<bool> stop_{false};
    std::thread worker_;  // last: started once everything above is initialised
};

}  // namespace

JetStreamBus::JetStreamBus(JetStreamOptions options) : shared_(std::make_shared<Shared>()) {
    auto& s = *shared_;
    s.options = std::move(options);
    const auto& o = s.options;
    if (o.fetch_batch < 1 || o.fetch_wait.count() < 1 || o.request_timeout.count() < 1) {
        throw std::invalid_argument(
            "event bus: fetch_batch, fetch_wait and request_timeout must be positive");
    }
    for (const auto& stream : o.streams) {
        if (!valid_durable_name(stream.name) || stream.subjects.empty()) {
            throw std::invalid_argument("event bus: invalid stream '" + stream.name + "'");
        }
        for (const auto& subject : stream.subjects) {
            if (!valid_type_filter(subject)) {
                throw std::invalid_argument("event bus: invalid subject '" + subject + "' of stream " +
                                            stream.name);
            }
        }
    }

    natsOptions* nats_options = nullptr;
    natsStatus status = natsOptions_Create(&nats_options);
    const auto set = [&](natsStatus result) {
        if (status == NATS_OK) status = result;
    };
    set(natsOptions_SetURL(nats_options, o.url.c_str()));
    set(natsOptions_SetName(nats_options, o.connection_name.c_str()));
    set(natsOptions_SetTimeout(nats_options, o.connect_timeout.count()));
    set(natsOptions_SetMaxReconnect(nats_options, o.max_reconnect));
    set(natsOptions_SetReconnectWait(nats_options, o.reconnect_wait.count()));
    // Publishes made while reconnecting are kept (8 MiB) and sent once the connection is back.
    set(natsOptions_SetReconnectBufSize(nats_options, 8 * 1024 * 1024));
    set(natsOptions_SetDisconnectedCB(nats_options, on_disconnected, nullptr));
    set(natsOptions_SetReconnectedCB(nats_options, on_reconnected, nullptr));
    set(natsOptions_SetErrorHandler(nats_options, on_async_error, nullptr));
    if (!o.token.empty()) set(natsOptions_SetToken(nats_options, o.token.c_str()));
    if (!o.user.empty()) set(natsOptions_SetUserInfo(nats_options, o.user.c_str(), o.password.c_str()));
    if (!o.ca_file.empty() || o.url.starts_with("tls://")) set(natsOptions_SetSecure(nats_options, true));
    if (!o.ca_file.empty()) set(natsOptions_LoadCATrustedCertificates(nats_options, o.ca_file.c_str()));
    if (!o.cert_file.empty()) {
        set(natsOptions_LoadCertificatesChain(nats_options, o.cert_file.c_str(), o.key_file.c_str()));
    }
    if (status != NATS_OK) {
        natsOptions_Destroy(nats_options);
        throw std::invalid_argument("event bus: invalid NATS options: " + nats_error(status));
    }
    status = natsConnection_Connect(&s.connection, nats_options);
    natsOptions_Destroy(nats_options);
    if (status != NATS_OK) {
        throw BusError("event bus: cannot connect to NATS at " + redact(o.url) + ": " + nats_error(status));
    }

    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = o.request_timeout.count();
    status = natsConnection_JetStream(&s.js, s.connection, &js_options);
    js_options.PublishAsync.AckHandler = &Shared::on_async_ack;
    js_options.PublishAsync.AckHandlerClosure = &s;
    js_options.PublishAsync.MaxPending = o.max_async_pending;
    if (status == NATS_OK) status = natsConnection_JetStream(&s.async_js, s.connection, &js_options);
    if (status != NATS_OK) throw BusError("event bus: JetStream context: " + nats_error(status));

    for (const auto& stream : o.streams) {
        std::vector<const char*> subjects;
        for (const auto& subject : stream.subjects) subjects.push_back(subject.c_str());
        jsStreamConfig config;
        jsStreamConfig_Init(&config);
        config.Name = stream.name.c_str();
        config.Subjects = subjects.data();
        config.SubjectsLen = static_cast<int>(subjects.size());
        config.Retention = js_LimitsPolicy;
        config.Discard = js_DiscardOld;
        config.Storage = o.memory_storage ? js_MemoryStorage : js_FileStorage;
        config.MaxAge = nanos(o.max_age);
        config.Duplicates = nanos(o.duplicate_window);
        config.Replicas = o.replicas;
        jsErrCode js_code = static_cast<jsErrCode>(0);
        status = js_AddStream(nullptr, s.js, &config, nullptr, &js_code);
        if (status != NATS_OK && js_code == JSStreamNameExistErr) {
            // It exists with other settings (an older release made it): bring it up to date.
            js_code = static_cast<jsErrCode>(0);
            status = js_UpdateStream(nullptr, s.js, &config, nullptr, &js_code);
        }
        if (status != NATS_OK) {
            throw BusError("event bus: cannot create or update stream " + stream.name + ": " +
                           nats_error(status, js_code));
        }
    }
    log::info(
        "event bus connected to NATS JetStream",
        {{"server.address", redact(o.url)}, {"event.streams", static_cast<std::int64_t>(o.streams.size())}});
}

JetStreamBus::~JetStreamBus() {
    close();
}

void JetStreamBus::close() {
    natsConnection_Close(shared_->connection);
}

bool JetStreamBus::connected() const {
    return natsConnection_Status(shared_->connection) == NATS_CONN_STATUS_CONNECTED;
}

void JetStreamBus::publish(const CloudEvent& event) {
    natsMsg* message = make_message(event);
    jsPubAck* ack = nullptr;
    jsErrCode js_code = static_cast<jsErrCode>(0);
    const natsStatus status = js_PublishMsg(&ack, shared_->js, message, nullptr, &js_code);
    natsMsg_Destroy(message);
    if (status != NATS_OK) {
        if (status == NATS_NO_RESPONDERS) {
            throw BusError("event bus: no stream stores subject " + event.type);
        }
        throw BusError("event bus: publish of " + event.type + " " + event.id +
                       " failed: " + nats_error(status, js_code));
    }
    jsPubAck_Destroy(ack);
}

PublishResult JetStreamBus::publish_batch(std::span<const CloudEvent> events) {
    auto& s = *shared_;
    std::lock_guard serial(s.batch_serial);
    {
        std::lock_guard lock(s.batch_mutex);
        s.batch_index.clear();
        s.batch_state.assign(events.size(), 0);
        s.batch_error.clear();
    }
    std::string error;
    for (std::size_t i = 0; i < events.size(); ++i) {
        natsMsg* message = nullptr;
        try {
            message = make_message(events[i]);
        } catch (const std::exception& e) {
            error = e.what();
            break;
        }
        {
            std::lock_guard lock(s.batch_mutex);
            s.batch_index[events[i].id] = i;
        }
        const natsStatus status = js_PublishMsgAsync(s.async_js, &message, nullptr);
        natsMsg_Destroy(message);  // no-op when the library took it
        if (status != NATS_OK) {
            error = "publish of " + events[i].type + " " + events[i].id + " failed: " + nats_error(status);
            break;
        }
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = s.options.request_timeout.count();
    if (js_PublishAsyncComplete(s.async_js, &wait) != NATS_OK) {
        // Acks still missing: take the messages back (their late acks are then ignored) and let the
        // caller publish them again; the duplicate window absorbs any that were in fact stored.
        natsMsgList pending{};
        if (js_PublishAsyncGetPendingList(&pending, s.async_js) == NATS_OK) natsMsgList_Destroy(&pending);
        if (error.empty()) error = "timed out waiting for JetStream to store the events";
    }
    PublishResult result;
    std::lock_guard lock(s.batch_mutex);
    while (result.accepted < s.batch_state.size() && s.batch_state[result.accepted] == 1) ++result.accepted;
    if (result.accepted < events.size()) {
        result.error = !s.batch_error.empty() ? s.batch_error : !error.empty() ? error : "event not stored";
        if (s.batch_state.size() > result.accepted && s.batch_state[result.accepted] == 0 && !error.empty()) {
            result.error = error;
        }
    }
    s.batch_index.clear();
    return result;
}

std::unique_ptr<Subscription> JetStreamBus::subscribe(SubscribeOptions options, Handler handler) {
    if (!valid_durable_name(options.durable_name)) {
        throw std::invalid_argument("event bus: invalid durable name '" + options.durable_name + "'");
    }
    if (!valid_type_filter(options.type_filter)) {
        throw std::invalid_argument("event bus: invalid type filter '" + options.type_filter + "'");
    }
    if (!handler) throw std::invalid_argument("event bus: a subscription needs a handler");
    if (options.max_deliver < 1 || options.ack_wait.count() < 1) {
        throw std::invalid_argument("event bus: max_deliver and ack_wait must be positive");
    }
    const StreamSpec* stream = nullptr;
    for (const auto& candidate : shared_->options.streams) {
        for (const auto& subject : candidate.subjects) {
            if (filter_covers(subject, options.type_filter)) stream = &candidate;
        }
        if (stream != nullptr) break;
    }
    if (stream == nullptr) {
        throw std::invalid_argument("event bus: no configured stream holds '" + options.type_filter + "'");
    }

    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = options.durable_name.c_str();
    config.AckPolicy = js_AckExplicit;
    config.AckWait = nanos(options.ack_wait);
    config.MaxDeliver = options.max_deliver;
    config.FilterSubject = options.type_filter.c_str();
    config.DeliverPolicy = options.deliver_new_only ? js_DeliverNew : js_DeliverAll;

    jsErrCode js_code = static_cast<jsErrCode>(0);
    jsConsumerInfo* existing = nullptr;
    natsStatus status =
        js_GetConsumerInfo(&existing, shared_->js, stream->name.c_str(), config.Durable, nullptr, &js_code);
    jsConsumerInfo_Destroy(existing);
    if (status == NATS_OK) {
        // Keep the server's settings in step with the code; settings the server will not change
        // on an existing consumer (its filter, its start) stay as they were.
        status = js_UpdateConsumer(nullptr, shared_->js, stream->name.c_str(), &config, nullptr, &js_code);
        if (status != NATS_OK) {
            log::warn(
                "event consumer kept its previous settings",
                {{"event.consumer", options.durable_name}, {"error.message", nats_error(status, js_code)}});
        }
    } else if (js_code == JSConsumerNotFoundErr) {
        js_code = static_cast<jsErrCode>(0);
        status = js_AddConsumer(nullptr, shared_->js, stream->name.c_str(), &config, nullptr, &js_code);
        // Another replica may have created it a moment ago: binding below tells.
        if (status != NATS_OK && js_code != JSConsumerNameExistErr) {
            throw BusError("event bus: cannot create consumer " + options.durable_name + ": " +
                           nats_error(status, js_code));
        }
    } else {
        throw BusError("event bus: cannot look up consumer " + options.durable_name + ": " +
                       nats_error(status, js_code));
    }

    jsSubOptions sub_options;
    jsSubOptions_Init(&sub_options);
    sub_options.Stream = stream->name.c_str();
    sub_options.Consumer = options.durable_name.c_str();
    natsSubscription* subscription = nullptr;
    js_code = static_cast<jsErrCode>(0);
    status = js_PullSubscribe(&subscription, shared_->js, options.type_filter.c_str(),
                              options.durable_name.c_str(), nullptr, &sub_options, &js_code);
    if (status != NATS_OK) {
        throw BusError("event bus: cannot bind to consumer " + options.durable_name + ": " +
                       nats_error(status, js_code));
    }
    return std::make_unique<JetStreamSubscription>(shared_, subscription, std::move(options),
                                                   std::move(handler));
}

}  // namespace olympus::events
