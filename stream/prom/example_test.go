package prom_test

import (
	"context"
	"fmt"
	"os"
	"time"

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

// With checkpoints the same Metrics reports them: this bounded run stores
// only its final checkpoint.
func Example_checkpoints() {
	dir, err := os.MkdirTemp("", "brook-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := stream.NewDirStore(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := stream.New(stream.WithMetrics(m), stream.WithCheckpoints(store, time.Hour))
	stream.To(stream.From(p, stream.Slice([]int{1, 2, 3})), stream.Discard[int]())
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	out, err := testutil.GatherAndFormat(reg, expfmt.TypeTextPlain,
		"brook_checkpoints_completed_total", "brook_checkpoints_failed_total", "brook_checkpoint_last_id")
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(out)
	// Output:
	// # HELP brook_checkpoint_last_id Id of the last completed checkpoint.
	// # TYPE brook_checkpoint_last_id gauge
	// brook_checkpoint_last_id 1
	// # HELP brook_checkpoints_completed_total Checkpoints stored and committed.
	// # TYPE brook_checkpoints_completed_total counter
	// brook_checkpoints_completed_total 1
	// # HELP brook_checkpoints_failed_total Checkpoints that could not be stored or committed.
	// # TYPE brook_checkpoints_failed_total counter
	// brook_checkpoints_failed_total 0
}
