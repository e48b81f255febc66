//go:build !unix

package jsonl

// abandonOpen cannot end an open waiting for a writer here: the goroutine
// in it is left to finish when one comes, and closes what it opened.
func abandonOpen(_ string, ch <-chan opened) {
	go func() {
		if o := <-ch; o.f != nil {
			o.f.Close()
		}
	}()
}
