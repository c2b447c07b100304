package loadtest

import (
	"context"
	"errors"
)

// errPushUnavailable is the answer to -scenario push until the push
// workers exist.
var errPushUnavailable = errors.New("the push scenario is reserved: it needs the push workers' fake APNs/FCM and /push/notify, which are not built yet")

// runPush is the extension point of the push scenario: a /push/notify
// campaign against the fake APNs/FCM that the push-worker package will
// provide. When it lands, this method should:
//
//   - start (or be given the address of) the fake APNs and FCM endpoints
//     and register each device of the topology with a push token
//     (client.Config.PushToken/Notifier, already supported by the client);
//   - run the campaign through the admin REST API at Config.Rate, each
//     notification tagged so that the fake can report it back;
//   - record, per push, ack latency (REST answer) in r.st.ackLat and
//     send-to-fake latency in r.st.deliveryLat, and account every push the
//     API accepted in r.ledger (Acked with the push's targets, Received
//     when the fake saw it), so that lost pushes fail the run exactly as
//     lost messages do;
//   - fill r.res.Traffic like runTraffic does, so the summary, JSON, HTML
//     and exit status need no change.
//
// Config.Validate refuses the scenario until then, so this is not reached.
func (r *runner) runPush(context.Context) error { return errPushUnavailable }
