package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"strconv"
	"time"

	// Decoders of the images thumbnails are made of.
	_ "image/gif"

	"golang.org/x/image/draw"

	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/store"
)

// Lanying's image_type values.
const (
	ImageOriginal  = 1
	ImageThumbnail = 2
	ImageCover     = 3
)

// Thumbnail bounds: a request for more than maxThumbSide pixels a side is
// clamped to it; none given means defaultThumbSide.
const (
	maxThumbSide     = 1024
	defaultThumbSide = 200
)

// DownloadOptions are the variants a download may ask for.
type DownloadOptions struct {
	ImageType int32
	// W and H bound a thumbnail (Lanying sends doubles).
	W, H float64
	// Format is the audio format asked for (amr, mp3); chatgate stores
	// and returns what was uploaded and converts nothing.
	Format string
}

// Download returns a short-lived URL of a chat file (avatar false) or an
// avatar (avatar true), or of its thumbnail, for a: chat files for the
// members of their conversation and admin tokens, avatars for every token
// of the app.
func (s *Service) Download(ctx context.Context, app string, a Actor, key string, avatar bool, o DownloadOptions) (string, error) {
	if !objstore.ValidKey(key) {
		return "", ErrFileNotFound
	}
	rec, err := s.d.Store.GetFileRecord(ctx, app, key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (rec.Kind == kindChat) == avatar) {
		return "", ErrFileNotFound
	}
	if err != nil {
		return "", err
	}
	if err := s.canRead(ctx, app, a, rec); err != nil {
		return "", err
	}
	switch o.Format {
	case "", "amr", "mp3":
	default:
		return "", bad("format", "must be amr or mp3 (chatgate returns the file as uploaded)")
	}
	obj := objstore.Object{App: app, Key: key}
	variant := "original"
	switch o.ImageType {
	case 0, ImageOriginal:
	case ImageThumbnail:
		if obj, err = s.thumbnail(ctx, obj, o.W, o.H); err != nil {
			return "", err
		}
		variant = "thumbnail"
	case ImageCover:
		return "", bad("image_type", "3 (video cover) is not made by chatgate; ask for 1 (original) or 2 (thumbnail)")
	default:
		return "", bad("image_type", "must be 1, 2 or 3, got %d", o.ImageType)
	}
	u, err := s.d.Backend.DownloadURL(ctx, obj, s.now().Add(s.cfg.DownloadTTL))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrStorage, err)
	}
	s.metrics.downloads.WithLabelValues(variant).Inc()
	return u, nil
}

func side(v float64) int {
	if math.IsNaN(v) || v <= 0 {
		return 0
	}
	if v > maxThumbSide {
		return maxThumbSide
	}
	return int(math.Ceil(v))
}

// thumbnail returns the thumbnail object of src fitting w x h, making and
// storing it the first time (later requests are served from storage).
func (s *Service) thumbnail(ctx context.Context, src objstore.Object, w, h float64) (objstore.Object, error) {
	tw, th := side(w), side(h)
	if tw == 0 && th == 0 {
		tw, th = defaultThumbSide, defaultThumbSide
	}
	dst := objstore.Object{App: src.App, Key: src.Key + "/" + strconv.Itoa(tw) + "x" + strconv.Itoa(th)}
	dst.Key = "t/" + dst.Key
	if _, err := s.d.Backend.Stat(ctx, dst); err == nil {
		return dst, nil
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return dst, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	start := time.Now()
	body, ctype, err := s.makeThumbnail(ctx, src, tw, th)
	if err != nil {
		return dst, err
	}
	// Record first: an object nobody lists could never be removed.
	if err := s.d.Store.AddFileThumb(ctx, src.App, src.Key, dst.Key); err != nil {
		return dst, err
	}
	if err := s.d.Backend.Put(ctx, dst, bytes.NewReader(body), int64(len(body)), ctype); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	s.metrics.thumbs.Observe(time.Since(start).Seconds())
	return dst, nil
}

// makeThumbnail decodes src (PNG, JPEG or GIF; refused over
// files.max_image_pixels before any pixel is decoded), scales it to fit
// tw x th (0: unbounded side) keeping its proportions, never enlarging,
// and encodes it as JPEG for a JPEG source and PNG otherwise.
func (s *Service) makeThumbnail(ctx context.Context, src objstore.Object, tw, th int) ([]byte, string, error) {
	rc, _, err := s.d.Backend.Open(ctx, src)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, "", ErrFileNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrStorage, err)
	}
	cfg, _, err := image.DecodeConfig(rc)
	rc.Close()
	if err != nil {
		return nil, "", bad("image_type", "the file is not a PNG, JPEG or GIF image")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > s.cfg.MaxImagePixels {
		return nil, "", bad("image_type", "image of %dx%d pixels is over the thumbnail limit", cfg.Width, cfg.Height)
	}
	rc, _, err = s.d.Backend.Open(ctx, src)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrStorage, err)
	}
	img, format, err := image.Decode(rc)
	rc.Close()
	if err != nil {
		return nil, "", bad("image_type", "the image cannot be decoded")
	}
	w, h := fit(img.Bounds().Dx(), img.Bounds().Dy(), tw, th)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(out, out.Bounds(), img, img.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	if format == "jpeg" {
		err = jpeg.Encode(&buf, out, &jpeg.Options{Quality: 85})
		return buf.Bytes(), "image/jpeg", err
	}
	err = png.Encode(&buf, out)
	return buf.Bytes(), "image/png", err
}

// fit scales w x h to fit within tw x th (0: no bound on that side)
// keeping the aspect ratio, never enlarging.
func fit(w, h, tw, th int) (int, int) {
	scale := 1.0
	if tw > 0 && float64(tw)/float64(w) < scale {
		scale = float64(tw) / float64(w)
	}
	if th > 0 && float64(th)/float64(h) < scale {
		scale = float64(th) / float64(h)
	}
	return max(1, int(math.Round(float64(w)*scale))), max(1, int(math.Round(float64(h)*scale)))
}

// Forward copies a chat file a may read into the conversation of a with
// toID, and returns the copy's download URL: the copy belongs to its new
// conversation, so its members can read it whatever happens to the
// original.
func (s *Service) Forward(ctx context.Context, app string, a Actor, fileSign string, toID int64, toType int32) (string, error) {
	if !objstore.ValidKey(fileSign) {
		return "", ErrFileNotFound
	}
	rec, err := s.d.Store.GetFileRecord(ctx, app, fileSign)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Kind != kindChat) {
		return "", ErrFileNotFound
	}
	if err != nil {
		return "", err
	}
	if err := s.canRead(ctx, app, a, rec); err != nil {
		return "", err
	}
	conv, gid, err := s.conversation(ctx, app, a, toID, toType)
	if err != nil {
		return "", err
	}
	key := newKey("c")
	cp := store.FileRecord{Kind: kindChat, Owner: a.UserID, Conv: conv, Group: gid, FileType: rec.FileType, Max: rec.Max, Created: s.now().UnixMilli()}
	if err := s.d.Store.PutFileRecord(ctx, app, key, cp, true); err != nil {
		return "", err
	}
	if err := s.d.Backend.Copy(ctx, objstore.Object{App: app, Key: fileSign}, objstore.Object{App: app, Key: key}); err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return "", ErrFileNotFound
		}
		return "", fmt.Errorf("%w: %v", ErrStorage, err)
	}
	s.metrics.issued.WithLabelValues("forward").Inc()
	return s.chatURL(key), nil
}
