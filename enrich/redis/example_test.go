package redis_test

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brook-streams/brook/enrich"
	"github.com/brook-streams/brook/enrich/redis"
	"github.com/brook-streams/brook/stream"
)

// Example joins plays with track titles stored in Redis as strings under
// "track:<id>". It needs a Redis server, so it is compiled but not run.
func Example() {
	client := goredis.NewClient(&goredis.Options{Addr: "localhost:6379"})
	defer client.Close()
	titles, err := redis.NewStringTable(client,
		func(id string) string { return "track:" + id },
		func(s string) (string, error) { return s, nil },
		redis.CacheSize(10_000), redis.CacheTTL(time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	type Play struct{ User, Track string }
	p := stream.New()
	plays := stream.From(p, stream.Records([]stream.Record[Play]{stream.At(Play{"ann", "t1"}, 0)}))
	e := enrich.Lookup(plays, titles, func(pl Play) string { return pl.Track },
		func(pl Play, title string) string { return pl.User + " played " + title },
		enrich.Batch(256), enrich.DefaultRow("(unknown track)"))
	stream.To(e.Stream, stream.SinkFunc[string](func(_ context.Context, r stream.Record[string]) error {
		fmt.Println(r.Value)
		return nil
	}))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
}
