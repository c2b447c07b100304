package bus

import (
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"
)

// FuzzDecodeEntries feeds arbitrary stream entry documents to the decoders
// of the three entry kinds a consumer reads: ingress sends (router),
// delivery batches (gateway) and push jobs (push worker). A decoder must
// never panic, and what it accepts must survive Encode -> Decode unchanged
// (so a re-queued entry means what the original meant).
//
// Seeds: testdata/fuzz/FuzzDecodeEntries. Run: go test -run=^$ -fuzz=FuzzDecodeEntries ./internal/bus/
func FuzzDecodeEntries(f *testing.F) {
	f.Add(`{"app":"a","from":1,"to_user":2,"cmid":"c1","type":"text","content":"hi"}`)
	f.Add(`{"items":[{"kind":"msg","app":"a","users":[1,2],"msg":{"id":"1"}}]}`)
	f.Add(`{"app":"a","user":1,"device":1,"msg_id":5}`)
	f.Fuzz(func(t *testing.T, doc string) {
		for _, v := range []any{&Send{}, &Batch{}, &PushJob{}} {
			roundTrip(t, doc, v)
		}
		// An entry without the document field is an error, not a panic.
		if err := Decode(redis.XMessage{ID: "1-1", Values: map[string]any{"x": doc}}, &Send{}); err == nil {
			t.Fatal("entry without the document field decoded")
		}
	})
}

func roundTrip(t *testing.T, doc string, v any) {
	t.Helper()
	if err := Decode(redis.XMessage{ID: "1-1", Values: map[string]any{Field: doc}}, v); err != nil {
		return
	}
	vals, err := Encode(v)
	if err != nil {
		t.Fatalf("decoded %T does not encode: %v", v, err)
	}
	again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	if err := Decode(redis.XMessage{ID: "1-2", Values: map[string]any{Field: string(vals[Field].([]byte))}}, again); err != nil {
		t.Fatalf("re-encoded %T does not decode: %v", v, err)
	}
	if !reflect.DeepEqual(normalize(v), normalize(again)) {
		t.Fatalf("%T changed in a round trip:\n%+v\n%+v", v, v, again)
	}
}

// normalize re-encodes v so that nil and empty slices, and raw JSON
// spacing, compare equal.
func normalize(v any) string {
	vals, _ := Encode(v)
	return string(vals[Field].([]byte))
}
