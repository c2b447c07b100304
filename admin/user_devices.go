package admin

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"

	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

type deviceResult struct {
	DeviceSN  int32  `json:"device_sn"`
	Platform  int32  `json:"platform" doc:"1 ios, 2 android, 3 windows, 4 mac, 5 linux, 6 web; 0 unknown (registered by REST only)"`
	UserAgent string `json:"user_agent" doc:"the platform's name: the protocol carries no user agent"`
	UserID    int64  `json:"user_id"`
	Online    bool   `json:"online" doc:"chatgate extension: the device has a live connection on some gateway"`
	LastSeen  int64  `json:"last_seen" doc:"chatgate extension: when the device last authenticated (unix ms), 0 if never"`
}

type onlineResult struct {
	Online  bool    `json:"online" doc:"the user has at least one live connection (foreground or background)"`
	Devices []int32 `json:"devices" doc:"chatgate extension: device_sn of each live connection"`
}

func (u *users) deviceRoutes() []*Route {
	return []*Route{
		{Methods: []string{"GET"}, Path: "/user/device/list", Summary: "Device list", Group: "user", Access: AccessToken,
			Result: []deviceResult{}, Errors: userErrs(), Handle: u.devices},
		{Methods: []string{"DELETE", "POST"}, Path: "/user/device/remove", Summary: "Delete device", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "device_sn", Type: "int32", Required: true, Desc: "a device of the user"}},
			Errors: userErrs(), Handle: u.removeDevice},
		{Methods: putPost, Path: "/user/kick", Summary: "Kick specified device", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "device_sn", Type: "int32", Desc: "the device to disconnect; absent: every device"}},
			Errors: userErrs(), Handle: u.kickDevices},
		{Methods: []string{"GET"}, Path: "/user/online_status", Summary: "Query user online status", Group: "user", Access: AccessToken,
			Result: onlineResult{}, Errors: userErrs(), Handle: u.onlineStatus},
	}
}

var platformNames = map[int]string{1: "ios", 2: "android", 3: "windows", 4: "mac", 5: "linux", 6: "web"}

// devices lists the registered devices (store.Devices) and the devices
// with a live connection (store.Routes) on any gateway.
func (u *users) devices(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	recips, err := u.s.st.LookupRecipients(r.Ctx, r.App.ID, []int64{uid}, u.s.now())
	if err != nil {
		return nil, err
	}
	byDev := map[int32]*deviceResult{}
	for _, d := range recips[0].Devices {
		byDev[d.SN] = &deviceResult{DeviceSN: d.SN, Platform: int32(d.Platform), UserID: uid, LastSeen: d.LastSeen}
	}
	for _, rt := range recips[0].Routes {
		d := byDev[rt.Device]
		if d == nil {
			d = &deviceResult{DeviceSN: rt.Device, UserID: uid}
			byDev[rt.Device] = d
		}
		d.Online = true
	}
	out := make([]deviceResult, 0, len(byDev))
	for _, d := range byDev {
		d.UserAgent = platformNames[int(d.Platform)]
		if d.UserAgent == "" {
			d.UserAgent = "unknown"
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceSN < out[j].DeviceSN })
	// One page holds every device (a user has few); the version is a hash
	// of the registered devices, so it changes when one is added or removed.
	h := fnv.New64a()
	for _, d := range out {
		fmt.Fprintf(h, "%d:%d;", d.DeviceSN, d.Platform)
	}
	return &Page{Data: out, Version: int64(h.Sum64() >> 1)}, nil
}

// removeDevice forgets a device (its push token with it) and disconnects
// it if it is live (kick 4107).
func (u *users) removeDevice(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	sn, err := r.QueryInt32("device_sn", 0)
	if err != nil {
		return nil, err
	}
	if err := checkDeviceSN("device_sn", sn); err != nil {
		return nil, err
	}
	live, err := u.liveRoutes(r, uid, sn)
	if err != nil {
		return nil, err
	}
	found, err := u.s.st.DeleteDevice(r.Ctx, r.App.ID, uid, sn)
	if err != nil {
		return nil, err
	}
	if !found && len(live) == 0 {
		return nil, BadParam("device_sn", "user %d has no device %d", uid, sn)
	}
	return nil, u.s.kick(r.Ctx, r.App.ID, []userRoutes{{user: uid, routes: live}}, protocol.CodeKickDeviceLimit)
}

// liveRoutes returns the live routes of a user, of one device when sn > 0.
func (u *users) liveRoutes(r *Req, uid int64, sn int32) ([]store.Route, error) {
	routes, err := u.s.st.Routes(r.Ctx, r.App.ID, uid, u.s.now())
	if err != nil || sn <= 0 {
		return routes, err
	}
	out := routes[:0]
	for _, rt := range routes {
		if rt.Device == sn {
			out = append(out, rt)
		}
	}
	return out, nil
}

// kickDevices disconnects one live device or all of them (kick 4102). A
// device that is not connected is not an error: the outcome, no live
// connection, is reached.
func (u *users) kickDevices(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	// MinInt32 marks an absent device_sn: every value a caller can send
	// is checked.
	sn, err := r.QueryInt32("device_sn", math.MinInt32)
	if err != nil {
		return nil, err
	}
	if sn == math.MinInt32 {
		sn = 0
	} else {
		if err := checkDeviceSN("device_sn", sn); err != nil {
			return nil, err
		}
	}
	live, err := u.liveRoutes(r, uid, sn)
	if err != nil {
		return nil, err
	}
	return nil, u.s.kick(r.Ctx, r.App.ID, []userRoutes{{user: uid, routes: live}}, protocol.CodeKickAdmin)
}

func (u *users) onlineStatus(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	live, err := u.liveRoutes(r, uid, 0)
	if err != nil {
		return nil, err
	}
	res := onlineResult{Online: len(live) > 0, Devices: make([]int32, 0, len(live))}
	for _, rt := range live {
		res.Devices = append(res.Devices, rt.Device)
	}
	sort.Slice(res.Devices, func(i, j int) bool { return res.Devices[i] < res.Devices[j] })
	return res, nil
}
