// Package streamtest helps test brook pipelines: a scripted source that emits
// records, watermarks and idle marks in a fixed order, a sink that records
// what reached it together with the watermarks between the records, and a
// fake clock for processing time, so tests never sleep; and conformance
// suites that an implementation of a brook interface runs from its own
// tests: [TestSource] for sources, [TestStateStore] for keyed state stores.
package streamtest
