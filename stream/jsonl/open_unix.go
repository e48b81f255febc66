//go:build unix

package jsonl

import (
	"os"
	"syscall"
	"time"
)

// abandonOpen ends the open of the named pipe at path that the goroutine
// sending on ch is waiting in for a writer: it opens the pipe for writing
// without blocking (which succeeds once the reader is in open) and closes
// it at once, so the reader's open returns; the file it opened is closed.
// It returns when that goroutine has.
func abandonOpen(path string, ch <-chan opened) {
	for {
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = w.Close() // opened only to end the reader's open; nothing written
		}
		select {
		case o := <-ch:
			if o.f != nil {
				_ = o.f.Close() // opened for reading and abandoned unread
			}
			return
		case <-time.After(5 * time.Millisecond): // the reader was not in open yet: again
		}
	}
}
