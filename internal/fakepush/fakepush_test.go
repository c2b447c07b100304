package fakepush

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"
)

// apnsClient is a real apns2 client of the fake, signing with key (the
// fake's own key unless another is given).
func apnsClient(t *testing.T, s *Server, key *ecdsa.PrivateKey, keyID string) *apns2.Client {
	t.Helper()
	if key == nil {
		k, err := token.AuthKeyFromBytes(s.APNsKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	c := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: keyID, TeamID: s.TeamID()})
	c.Host = s.URL
	c.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &http2.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.CertPool},
	}}
	return c
}

// TestAPNsChecks: the fake refuses what Apple refuses, with Apple's
// status and reason, and counts only what it accepted.
func TestAPNsChecks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, Options{KeepPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Repeat("ab", 32)
	gone := strings.Repeat("cd", 32)
	s.FailToken(APNs, gone, Fault{Status: http.StatusGone})
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *apns2.Client
		n      apns2.Notification
		status int
		reason string
	}{
		{"accepted", apnsClient(t, s, nil, s.KeyID()), apns2.Notification{DeviceToken: good, Topic: s.Topic(), Payload: []byte(`{"aps":{"alert":"hi"}}`)}, 200, ""},
		{"token not hex", apnsClient(t, s, nil, s.KeyID()), apns2.Notification{DeviceToken: "not-a-token", Topic: s.Topic(), Payload: []byte(`{}`)}, 400, apns2.ReasonBadDeviceToken},
		{"other topic", apnsClient(t, s, nil, s.KeyID()), apns2.Notification{DeviceToken: good, Topic: "com.other.app", Payload: []byte(`{}`)}, 400, apns2.ReasonTopicDisallowed},
		{"payload over 4 KB", apnsClient(t, s, nil, s.KeyID()), apns2.Notification{DeviceToken: good, Topic: s.Topic(), Payload: []byte(`{"x":"` + strings.Repeat("a", MaxPayload) + `"}`)}, 413, apns2.ReasonPayloadTooLarge},
		{"signed by another key", apnsClient(t, s, otherKey, s.KeyID()), apns2.Notification{DeviceToken: good, Topic: s.Topic(), Payload: []byte(`{}`)}, 403, apns2.ReasonInvalidProviderToken},
		{"unknown key id", apnsClient(t, s, nil, "WRONGKEYID"), apns2.Notification{DeviceToken: good, Topic: s.Topic(), Payload: []byte(`{}`)}, 403, apns2.ReasonInvalidProviderToken},
		{"injected 410", apnsClient(t, s, nil, s.KeyID()), apns2.Notification{DeviceToken: gone, Topic: s.Topic(), Payload: []byte(`{}`)}, 410, apns2.ReasonUnregistered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.client.PushWithContext(ctx, &tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || res.Reason != tt.reason {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, res.Reason, tt.status, tt.reason)
			}
			if tt.status == http.StatusGone && res.Timestamp.IsZero() {
				t.Error("410 without Apple's timestamp")
			}
		})
	}
	if st := s.Stats(APNs); st.Accepted != 1 || st.Requests != int64(len(tests)) || s.Count(APNs, good) != 1 {
		t.Fatalf("stats %+v, count %d", st, s.Count(APNs, good))
	}
	if ns := s.Received(APNs, good); len(ns) != 1 || string(ns[0].Payload) != `{"aps":{"alert":"hi"}}` {
		t.Fatalf("received %+v", ns)
	}
}

// TestFCMNeedsOAuth: the FCM endpoint refuses a request without a token
// issued by the fake's OAuth endpoint, with FCM's error body.
func TestFCMNeedsOAuth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool}}}
	req, _ := http.NewRequest("POST", s.URL+"/v1/projects/"+s.Project()+"/messages:send", strings.NewReader(`{"message":{"token":"x"}}`))
	req.Header.Set("Authorization", "Bearer forged")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	if st := s.Stats(FCM); st.Accepted != 0 {
		t.Fatalf("stats %+v", st)
	}
}
