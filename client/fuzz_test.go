package client

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/chatgate/chatgate/protocol"
)

// FuzzServerFrame feeds arbitrary server frames to the client's decoding
// and dispatch (what readLoop and the authentication do with each text
// message): nothing panics, a reply reaches only the request whose rid it
// carries, and a msg frame reaches the message channel.
//
// Seeds: testdata/fuzz/FuzzServerFrame. Run: go test -run=^$ -fuzz=FuzzServerFrame ./client/
func FuzzServerFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr protocol.Frame
		if json.Unmarshal(data, &fr) != nil {
			return
		}
		if fr.T == protocol.TypeHello && fr.Hello != nil {
			if l := withDefaultLimits(fr.Hello.Limits); l.MaxFrameBytes <= 0 || l.FramesPerSecond <= 0 {
				t.Fatalf("limits after defaults: %+v", l)
			}
		}
		c := &Conn{
			log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			pending: map[uint32]chan *protocol.Frame{},
			msgs:    make(chan *protocol.Message, 1),
		}
		reply := make(chan *protocol.Frame, 1)
		c.pending[7] = reply
		if !c.dispatch(&fr) {
			t.Fatal("dispatch refused a frame into an empty message channel")
		}
		switch {
		case fr.T == protocol.TypeMsg && fr.Message != nil:
			if <-c.msgs != fr.Message {
				t.Fatal("msg frame not delivered")
			}
		case fr.T != protocol.TypeMsg && fr.T != protocol.TypeKick && fr.Rid == 7:
			if <-reply != &fr {
				t.Fatal("reply not delivered to its request")
			}
		default:
			if len(reply) != 0 {
				t.Fatalf("frame with rid %d answered request 7", fr.Rid)
			}
		}
	})
}
