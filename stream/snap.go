package stream

import "github.com/brook-streams/brook/stream/codec"

// pairSnapshotter snapshots two optional parts as one state.
type pairSnapshotter [2]Snapshotter

func (p pairSnapshotter) Snapshot() ([]byte, error) {
	var e codec.Encoder
	for _, s := range p {
		var st []byte
		if s != nil {
			var err error
			if st, err = s.Snapshot(); err != nil {
				return nil, err
			}
		}
		e.Bytes(st)
	}
	return e.Data(), nil
}

func (p pairSnapshotter) Restore(b []byte) error {
	d := codec.NewDecoder(b, "source state")
	parts := [2][]byte{d.Bytes(), d.Bytes()}
	if err := d.Finish(); err != nil {
		return err
	}
	for i, s := range p {
		if s != nil {
			if err := s.Restore(parts[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
