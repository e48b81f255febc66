// Command nexmark runs the Nexmark streaming benchmark on brook: a generator
// of auction-site events and the suite's queries q0, q1, q2, q3, q4, q5, q7,
// q8, q11 and q13 as brook pipelines, each with the results of the
// reference SQL (nexmark/nexmark, nexmark-flink/src/main/resources/queries).
//
//	go run ./examples/nexmark -query q5 -events 10000000
//	go run ./examples/nexmark -query q7 -events 1000000 -out q7.jsonl
//	go run ./examples/nexmark -dump events.jsonl -events 100000 -rate 1000
//	go run ./examples/nexmark -query q4 -input events.jsonl -out q4.jsonl
//
// It prints the throughput, events (of all kinds) per second of wall time,
// and per second of the process's CPU time (per core-second, the figure a
// busy shared machine disturbs least):
//
//	q5 (hot items): 10000000 events in 3.606s: 2.77 M events/s (parallel 1, GOMAXPROCS 1); 5 rows; CPU 3.59s: 2.79 M events per core-second
//
// and with -out writes the result rows as JSON Lines, one object per row
// with the columns of the query's sink table in the suite (timestamps as
// "2006-01-02 15:04:05.000", UTC). Without -out the rows are counted and
// dropped, like the suite's blackhole sink.
//
// # Events
//
// The generator follows the design of the suite's generator: event n has an
// id from which its kind follows — 1 person, 3 auctions and 46 bids in every
// 50 — and a time BaseTime + n/rate (-rate, default 10 M events per second
// of event time, the suite's published setting; times in milliseconds, as
// the suite's). Persons and auctions take consecutive ids from 1000; sellers
// and bidders are mostly the hot person of the last batch of 100, otherwise
// one of the last 1000 people (or up to 10 not yet created); bids go to the
// hot auction of the last 100 half of the time, otherwise to one of the last
// 100 auctions (or up to 10 ahead). Auctions last, on average, twice the
// time it takes 100 more auctions to open. Strings are random, and an
// extra field pads entities to the suite's average sizes. Each event is a
// pure function of the seed and its number, so the generator is
// deterministic and parallel instances share the work. -out-of-order N
// permutes event times within groups of N events.
//
// -dump writes the events as JSON Lines in the layout of the suite's event
// table:
//
//	{"event_type":2,"bid":{"auction":1000,"bidder":1001,"price":1764,"channel":"Google","url":"https://www.nexmark.com/…","dateTime":"2015-07-15 00:00:00.000","extra":"…"}}
//
// and -input reads such a file back instead of generating.
//
// # Queries
//
// Every query reads the events with the suite's watermark, event time minus
// 4 s (brook's bounded out-of-orderness: W = maxSeen - 4 s - 1 ns), and
// follows the semantics of its reference SQL; each query's doc comment
// ([Q0] … [Q13]) quotes the SQL and says how the pipeline computes it. The
// windowed queries (q5, q7, q8, q11) emit each window's rows when the
// watermark passes its end; q3 and q4 are joins without windows, q4's
// averages come out at the end of input. The results equal a plain batch
// computation of the SQL over the same events whenever no event is more
// than 4 s out of order, which the generator guarantees; the tests check
// every query that way at parallelism 1 to 3.
//
// # Parallelism
//
// -parallel N (default GOMAXPROCS) runs N instances of every stage, the
// source included: the source deals chunks of 1024 event numbers
// round-robin to N generating instances (the suite's sources are parallel
// too), each with its own watermark; keyed stages repartition by key, and
// the sink merges. With -parallel 1 the source generates the events itself
// and the operators up to the first exchange run in its goroutine a batch
// of records at a time; with no keyed stage (q0, q1, q2, q13) that is the
// whole query.
//
// SIGINT (Ctrl-C) and SIGTERM stop a run alike: nexmark keeps no
// checkpoint, so the run is cancelled at once (an -out file keeps the rows
// written so far), one line on stderr says so and that the same command
// starts over, and the exit status is 128 plus the signal's number (130,
// 143), as a shell reports a command a signal ended.
//
// Exit status: 0 on success, 2 for bad flags or unusable files (one line on
// stderr), 1 for a failure during the run, 130 or 143 after SIGINT or
// SIGTERM.
package main
