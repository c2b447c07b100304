// Package client owns the Go client of the chatgate client protocol v1
// (protocol/PROTOCOL.md). The terminal client, the multi-process e2e tests
// and the load-test harness all talk to gateways through it.
//
// There are two levels.
//
// [Conn] is one WebSocket connection: [Dial] opens it, authenticates and
// returns once the server said hello. Its methods ([Conn.Send],
// [Conn.Sync], [Conn.Ping], ...) are safe for concurrent use: each request
// gets its own rid and waits for its own reply, and frames are written by
// one writer goroutine in the order the methods were called. A Conn sends
// heartbeat pings by itself, paces its frames below the announced rate limit
// and declares the connection dead when the server stays silent for two
// heartbeat intervals. Live messages arrive on [Conn.Messages]. A Conn does
// not reconnect: when it ends, [Conn.Done] is closed and [Conn.Err] says why
// (a [*KickError], a [*protocol.Error], [ErrClosed], [ErrSlowConsumer],
// [ErrHeartbeatTimeout] or a transport error).
//
// [Session] is what applications use: a logical connection that survives
// gateway failures. It dials the gateway URLs in turn with exponential
// backoff and jitter; after every hello it syncs from (a minute before) the
// highest message id it has seen until has_more is false, then delivers live
// messages, dropping duplicates by id with bounded memory; [Session.Send]
// blocks until the message is acknowledged, resending with the same cmid
// after each reconnect, so a message is never sent twice nor lost between
// connections; the highest delivered id is dacked every few seconds. A kick
// with code 4101 (replaced: the same device connected elsewhere), 4102
// (kicked by an administrator), 4103 (user disabled) or 4108 (user
// deleted) and an authentication failure end a Session; every other
// disconnection is followed by a reconnect.
//
// Recalls and read receipts are events: message objects of type "recall"
// or "read" delivered among the messages ([Recall] and [ReadReceipt] tell
// them apart). A Session hands them to the application like messages,
// deduplicated by id, so that it can remove a recalled message or mark
// messages read.
//
// Every goroutine of a Conn or Session ends with Close (or with the Session's
// context); nothing is kept at package level.
package client
