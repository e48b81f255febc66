//go:build !unix

package kafka

import (
	"errors"
	"os"
)

var errNoFlock = errors.New("kafka: DirTaskStore needs file locks (flock), which this platform lacks; use redisstore.Tasks")

func lockFile(*os.File) error { return errNoFlock }

func unlockFile(*os.File) {}
