package store

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// FuzzStoredData feeds arbitrary stored values to the parsers of store/:
// what a bug, an older version or a hand edit left in Redis must read as
// "absent" or an error, never as a panic. The user record parser gets the
// value as any HMGET field, the devices, friend, application and push
// task parsers as their JSON or hash values.
//
// Seeds: testdata/fuzz/FuzzStoredData. Run: go test -run=^$ -fuzz=FuzzStoredData ./store/
func FuzzStoredData(f *testing.F) {
	f.Add(`{"device_sn":1,"platform":2,"push_token":"t","tags":["a"]}`, "1700000000000")
	f.Add(`{"alias":"x","ext":"y","created":1}`, "+1")
	f.Fuzz(func(t *testing.T, doc, field string) {
		vals := make([]any, len(userFields))
		for i := range vals {
			vals[i] = field
		}
		if u, ok := decodeUser(7, vals); !ok || u.ID != 7 {
			t.Fatalf("record with created %q not decoded", field)
		}
		vals[0] = nil
		if _, ok := decodeUser(7, vals); ok {
			t.Fatal("record without created decoded")
		}
		for _, d := range decodeDevices(map[string]string{field: doc, "1": doc}) {
			if d.SN <= 0 {
				t.Fatalf("device with sn %d", d.SN)
			}
		}
		cmd := redis.NewStringResult(doc, nil)
		_, _ = decodeFriend(cmd)
		_, _ = decodeApplication(cmd, 3)
		task := decodeTask("a", 1, map[string]string{"spec": doc, "created": field, "state": field, field: field, "n:" + field: field})
		if task == nil || task.ID != 1 {
			t.Fatal("push task not decoded")
		}
		_ = AuthState{Created: int64(len(field))}.Status()
	})
}
