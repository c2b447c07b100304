package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// Buffer sizes of a hijacked connection. coder/websocket keeps the
// bufio.Reader and bufio.Writer the Hijacker returns for the life of the
// connection; net/http would hand over 4 KiB of each. Client frames are
// small and larger reads bypass the buffer. The writer only needs to hold
// a whole control frame (at most 127 bytes unmasked) so that one arrives
// at the sockWriter in one piece; data frames are batched by the sockWriter
// in a pooled buffer while the connection's writer goroutine runs.
const (
	readBufSize  = 512
	writeBufSize = 256
)

// sockWriter sits between the WebSocket library and the socket. Outside a
// batch it writes through: the library's own frames (pongs, close frames)
// come from its bufio.Writer at a flush, whole. While the connection's
// writer goroutine has a batch open, every write is appended to a pooled
// buffer that the goroutine flushes in one syscall between frames, so an
// idle connection holds no write buffer and a burst of deliveries costs one
// write per batch rather than one per frame.
type sockWriter struct {
	nc   net.Conn
	pool *sync.Pool // of *[]byte batch buffers, shared by the gateway

	mu    sync.Mutex
	batch *[]byte // non-nil while a batch is open
}

// maxPooledBatch keeps the buffers of huge frames (sync pages) out of the pool.
const maxPooledBatch = 256 << 10

func newBatchBuf() any {
	b := make([]byte, 0, 8<<10)
	return &b
}

func (w *sockWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batch != nil {
		*w.batch = append(*w.batch, p...)
		return len(p), nil
	}
	return w.nc.Write(p)
}

// begin opens a batch.
func (w *sockWriter) begin() {
	w.mu.Lock()
	if w.batch == nil {
		w.batch = w.pool.Get().(*[]byte)
	}
	w.mu.Unlock()
}

// buffered is the number of bytes waiting in the batch.
func (w *sockWriter) buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batch == nil {
		return 0
	}
	return len(*w.batch)
}

// flush writes the batch to the socket; the batch stays open. Only whole
// frames are ever in it: the caller flushes between its frames, and the
// library's own frames arrive whole.
func (w *sockWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batch == nil || len(*w.batch) == 0 {
		return nil
	}
	_, err := w.nc.Write(*w.batch)
	*w.batch = (*w.batch)[:0]
	return err
}

// end closes the batch, dropping what was not flushed, and returns the
// buffer to the pool.
func (w *sockWriter) end() {
	w.mu.Lock()
	b := w.batch
	w.batch = nil
	w.mu.Unlock()
	if b != nil && cap(*b) <= maxPooledBatch {
		*b = (*b)[:0]
		w.pool.Put(b)
	}
}

// smallHijacker wraps a ResponseWriter so that the upgrade hijacks the
// connection with small buffers, and remembers the raw net.Conn: its
// deadlines bound writes and closes without a timer per connection.
type smallHijacker struct {
	http.ResponseWriter
	pool *sync.Pool // batch buffers for the sockWriter
	raw  net.Conn
	br   *bufio.Reader // the reader the WebSocket connection reads from
	out  *sockWriter   // what the WebSocket connection writes to
	// carried: the client's first bytes arrived with the handshake.
	carried bool
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (h *smallHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// Hijack hands coder/websocket the connection with small buffers. Bytes the
// client sent after its handshake request (already buffered by net/http)
// are carried over into the new reader.
func (h *smallHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("gateway: response writer cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: hijack: %w", err)
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("gateway: flush handshake: %w", err)
		}
	}
	var br *bufio.Reader
	if n := brw.Reader.Buffered(); n > 0 {
		h.carried = true
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc), max(readBufSize, n))
		// Pull the carried-over bytes into the buffer now: Accept peeks
		// what is buffered and then resets the reader onto nc alone.
		if _, err := br.Peek(n); err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("gateway: carry over buffered bytes: %w", err)
		}
	} else {
		br = bufio.NewReaderSize(nc, readBufSize)
	}
	h.raw, h.br, h.out = nc, br, &sockWriter{nc: nc, pool: h.pool}
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(h.out, writeBufSize)), nil
}
