package protocol

import "testing"

// BenchmarkDecode measures the decoder on a typical send frame, and the
// share of it that the exact-member-name check (exactMembers) costs.
// Run: go test -run=^$ -bench=Decode -benchmem ./protocol/
func BenchmarkDecode(b *testing.B) {
	frame := []byte(`{"t":"send","rid":7,"cmid":"a1f3-0001","to_user":42,"type":"text","content":"hello, how are you doing today?"}`)
	lim := DefaultLimits()
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := Decode(frame, lim); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("exact_members_only", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := exactMembers(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}
