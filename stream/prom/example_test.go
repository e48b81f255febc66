package prom_test

import (
	"context"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/prom"
)

func Example() {
	reg := prometheus.NewRegistry() // yours: no global registry is touched
	m, err := prom.New(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := stream.New(stream.WithMetrics(m))
	words := stream.From(p, stream.Slice([]string{"a", "bb", "", "ccc"}), stream.Name("words"))
	nonEmpty := stream.Filter(words, func(s string) bool { return s != "" }, stream.Name("non-empty"))
	stream.To(nonEmpty, stream.Discard[string](), stream.Name("out"))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	out, err := testutil.GatherAndFormat(reg, expfmt.TypeTextPlain, "brook_records_in_total")
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(out)
	// Output:
	// # HELP brook_records_in_total Records an operator instance received.
	// # TYPE brook_records_in_total counter
	// brook_records_in_total{instance="0",operator="non-empty"} 4
	// brook_records_in_total{instance="0",operator="out"} 3
	// brook_records_in_total{instance="0",operator="words"} 0
}
