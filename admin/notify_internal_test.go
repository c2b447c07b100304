package admin

import (
	"testing"

	"github.com/chatgate/chatgate/domain/group"
)

// TestNoticeSends checks how a notice becomes ingress entries: one group
// entry (several when To is over the router's bound), one entry per user
// for user-addressed notices, push only for invitations and friend requests.
func TestNoticeSends(t *testing.T) {
	big := make([]int64, noticeChunk+5)
	for i := range big {
		big[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name    string
		n       group.Notice
		entries int
		push    bool
	}{
		{"group", group.Notice{Kind: group.KindMemberKicked, Group: 9, To: []int64{4}}, 1, false},
		{"group no To", group.Notice{Kind: group.KindCreated, Group: 9}, 1, false},
		{"destroyed, many former members", group.Notice{Kind: group.KindDestroyed, Group: 9, To: big}, 2, false},
		{"invitation", group.Notice{Kind: group.KindInvited, To: []int64{4}, Data: map[string]string{"group_id": "9"}}, 1, true},
		{"application to admins", group.Notice{Kind: group.KindApplication, To: []int64{1, 2, 0, -1}}, 2, false},
		{"friend request", group.Notice{Kind: KindFriendRequest, To: []int64{3}}, 1, true},
		{"nobody", group.Notice{Kind: KindFriendDeleted}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sends := noticeSends(tc.n)
			if len(sends) != tc.entries {
				t.Fatalf("%d entries, want %d", len(sends), tc.entries)
			}
			total := 0
			for _, s := range sends {
				total += len(s.To)
				if s.Push != tc.push || (s.Push && s.Content == "") || s.Notice.Kind != tc.n.Kind || !s.Admin || s.From != 0 {
					t.Errorf("entry %+v", s)
				}
				if (tc.n.Group != 0) != (s.ToGroup == tc.n.Group && s.ToUser == 0) {
					t.Errorf("entry addressed to user %d group %d", s.ToUser, s.ToGroup)
				}
			}
			if tc.n.Group != 0 && total != len(tc.n.To) {
				t.Errorf("extra recipients %d, want %d", total, len(tc.n.To))
			}
		})
	}
}
