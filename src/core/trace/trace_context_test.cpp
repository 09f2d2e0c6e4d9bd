#include "trace/trace_context.hpp"

#include <gtest/gtest.h>

namespace olympus::trace {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesTheSpecificationExample) {
    auto parsed = parse_traceparent(kValid);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->flags, 1);
    TraceContext ctx = TraceContext::continue_from(kValid, "congo=t61rcWkgMzE");
    EXPECT_EQ(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(ctx.parent_id_hex(), "00f067aa0ba902b7");
    EXPECT_NE(ctx.span_id_hex(), "00f067aa0ba902b7");
    EXPECT_EQ(ctx.tracestate, "congo=t61rcWkgMzE");
    EXPECT_TRUE(ctx.sampled());
}

TEST(Traceparent, RejectsInvalidHeaders) {
    for (std::string_view bad : {
             "",
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",         // short
             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
             "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
             "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent id
             "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // forbidden version
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // v00 with extra
             "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // separator
             "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",        // not hex
         }) {
        EXPECT_FALSE(parse_traceparent(bad)) << bad;
    }
}

TEST(Traceparent, AcceptsHigherVersionsWithExtraFields) {
    EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"));
    EXPECT_FALSE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what"));
}

TEST(TraceContext, MalformedParentStartsAFreshTraceAndDropsTracestate) {
    TraceContext ctx = TraceContext::continue_from("garbage", "a=b");
    EXPECT_FALSE(ctx.has_parent());
    EXPECT_TRUE(ctx.tracestate.empty());
    EXPECT_EQ(ctx.trace_id_hex().size(), 32u);
}

TEST(TraceContext, StartedTracesAreRandomSampledAndRenderValidHeaders) {
    TraceContext a = TraceContext::start();
    TraceContext b = TraceContext::start();
    EXPECT_NE(a.trace_id_hex(), b.trace_id_hex());
    EXPECT_EQ(a.flags, 0x03);
    auto reparsed = parse_traceparent(a.traceparent());
    ASSERT_TRUE(reparsed);
    EXPECT_EQ(reparsed->trace_id, a.trace_id);
    EXPECT_EQ(reparsed->parent_id, a.span_id);
}

TEST(TraceContext, ChildKeepsTheTraceAndPointsAtItsParentSpan) {
    TraceContext parent = TraceContext::continue_from(kValid, "");
    TraceContext child = parent.child();
    EXPECT_EQ(child.trace_id, parent.trace_id);
    EXPECT_EQ(child.parent_id, parent.span_id);
    EXPECT_NE(child.span_id, parent.span_id);
}

TEST(TraceContext, UnknownFlagsAreNotPropagated) {
    TraceContext ctx =
        TraceContext::continue_from("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", "");
    EXPECT_TRUE(ctx.traceparent().ends_with("-03"));
}

}  // namespace
}  // namespace olympus::trace
