package kafka_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brook-streams/brook/stream"
	"github.com/brook-streams/brook/stream/kafka"
)

func Example() {
	// An in-process Kafka for the example; use your brokers' addresses.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "words"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	brokers := kafka.Brokers(c.ListenAddrs()...)

	// Produce: one pipeline writes words; Run returns once every ack is in.
	p := stream.New()
	words := stream.From(p, stream.Slice([]string{"brook", "", "kafka"}))
	stream.To(words, kafka.NewSink("words", func(s string) ([]byte, error) { return []byte(s), nil }, brokers))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	// Consume: another reads them back; an empty word is a decoding error
	// and goes to the dead letters.
	src := kafka.NewSource(func(r *kgo.Record) (string, error) {
		if len(r.Value) == 0 {
			return "", fmt.Errorf("empty word")
		}
		return strings.ToUpper(string(r.Value)), nil
	}, brokers, kafka.Partitions("words", map[int32]kgo.Offset{0: kgo.NewOffset().AtStart()}))
	q := stream.New()
	d := kafka.Decode(stream.From(q, src))
	seen := 0
	done := func() {
		if seen++; seen == 3 {
			src.Stop() // a graceful end: the pipeline finishes normally
		}
	}
	stream.To(d.Stream, stream.SinkFunc[string](func(_ context.Context, r stream.Record[string]) error {
		fmt.Println(r.Value)
		done()
		return nil
	}))
	stream.To(d.DeadLetters(), stream.SinkFunc[stream.DeadLetter[kafka.Message[string]]](
		func(_ context.Context, r stream.Record[stream.DeadLetter[kafka.Message[string]]]) error {
			fmt.Println("dead letter:", r.Value.Err)
			done()
			return nil
		}))
	if err := q.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// BROOK
	// dead letter: kafka: decode words/0@1: empty word
	// KAFKA
}
