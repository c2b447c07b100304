package server

import (
	"github.com/chatgate/chatgate/domain/group"
	"github.com/chatgate/chatgate/internal/config"
)

// groupLimits turns an app's configured group limits into the domain's.
func groupLimits(g config.Groups) group.Limits {
	return group.Limits{
		MaxMembers: g.MaxMembers, MaxCreatedPerUser: g.MaxCreatedPerUser, MaxJoinedPerUser: g.MaxJoinedPerUser,
		MaxGroupsPerApp: g.MaxGroupsPerApp, MaxKicks: g.MaxKicks,
		InvitationTTL: g.InvitationTTL, ApplicationTTL: g.ApplicationTTL, QRCodeTTL: g.QRCodeTTL,
	}
}
