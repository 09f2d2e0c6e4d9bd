#pragma once

// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text exposition
// format 0.0.4. A labelled child is created once and returned by reference (stable for the life of
// the registry), so hot paths look it up once and then only touch atomics.
//
// Counters and histograms are sharded: each thread updates its own cache-line-padded slot, so
// threads serving requests on different cores do not bounce one cache line between them; a scrape
// adds the shards up. Metric handles are cheap to copy (they share the child).

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace olympus::metrics {

// A value that only goes up. inc() ignores negative and NaN amounts (a counter never decreases).
class Counter {
  public:
    void inc(double amount = 1.0);
    double value() const;

  private:
    template <class>
    friend class Family;
    friend class Registry;
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

class Gauge {
  public:
    void set(double value);
    void add(double amount);
    void sub(double amount) { add(-amount); }
    double value() const;

  private:
    template <class>
    friend class Family;
    friend class Registry;
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// Observations counted into fixed buckets (upper bounds inclusive, as Prometheus's `le`).
class Histogram {
  public:
    void observe(double value);
    std::uint64_t count() const;
    double sum() const;

  private:
    template <class>
    friend class Family;
    friend class Registry;
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

template <class Metric>
class Family {
  public:
    // The child with these label values (in the order of the family's label names), created on
    // first use. Throws std::invalid_argument when the number of values is wrong.
    Metric& labels(std::initializer_list<std::string_view> values);
    Metric& labels(const std::vector<std::string>& values);

  private:
    friend class Registry;
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// Default latency buckets in seconds, from 0.5 ms to 10 s.
const std::vector<double>& default_latency_buckets();

class Registry {
  public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // Names follow Prometheus conventions (counters end in _total); registering the same name twice
    // returns the existing family when the type and labels match and throws otherwise.
    Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
    Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
    Family<Histogram>& histogram(std::string name, std::string help,
                                 std::vector<std::string> label_names = {},
                                 std::vector<double> buckets = default_latency_buckets());

    // A callback run at every scrape that sets gauges or counters from outside state (process
    // metrics, pool sizes, queue depths).
    void on_collect(std::function<void()> callback);

    // The text exposition format 0.0.4, families sorted by name.
    std::string render() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A sample value as the text format spells it: exact integers without exponent ("42"), "+Inf",
// "-Inf", "NaN", otherwise the shortest form that reads back to the same double ("0.005").
std::string format_value(double value);

// Registers process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and process_start_time_seconds.
void register_process_metrics(Registry& registry);

}  // namespace olympus::metrics
