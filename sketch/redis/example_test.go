package redis_test

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/brook-streams/brook/sketch/redis"
)

// Two processes count the listeners of one window in Redis; a third reads
// the total. (Not run: it needs a Redis server; see the tests for a run.)
func ExampleHLL() {
	ctx := context.Background()
	client := goredis.NewClient(&goredis.Options{Addr: "localhost:6379"})
	defer client.Close()

	east, _ := redis.NewHLL(client, "{listeners:20:00}:east")
	west, _ := redis.NewHLL(client, "{listeners:20:00}:west")
	if err := east.Add(ctx, "ana", "bo", "ana"); err != nil {
		fmt.Println(err)
		return
	}
	if err := west.Add(ctx, "bo", "cy"); err != nil {
		fmt.Println(err)
		return
	}
	n, err := redis.Count(ctx, client, east.Key(), west.Key())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n, "unique listeners")
}
