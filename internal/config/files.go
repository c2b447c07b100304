package config

import (
	"fmt"
	"time"
)

// Files configures file storage: where uploads go and the limits of the
// /file and /group/file operations (docs/api/files.md).
type Files struct {
	// Backend is "local" (a directory, served by the gateway listener
	// under /files/) or "s3" (any S3-compatible store).
	Backend string `yaml:"backend"`
	// Dir holds the local backend's objects. Every process of a cluster
	// that runs the admin or gateway role must see the same directory
	// (one machine, or a shared file system); otherwise use s3. Empty: a
	// temporary directory (removed at exit in embedded mode, whose data
	// is in memory anyway; with Redis a warning says to set it).
	Dir string `yaml:"dir"`
	// PublicURL is how clients reach the gateway listener, for the local
	// backend's signed URLs (e.g. https://chat.example.com). Empty: the
	// gateway's listen address over http.
	PublicURL string `yaml:"public_url"`
	// APIURL is how clients reach the REST API, for the download_url of
	// avatars and chat files (e.g. https://api.chat.example.com). Empty:
	// the admin listen address over http.
	APIURL string `yaml:"api_url"`
	// MaxFileBytes caps a chat or group file; MaxAvatarBytes an avatar.
	MaxFileBytes   int64 `yaml:"max_file_bytes"`
	MaxAvatarBytes int64 `yaml:"max_avatar_bytes"`
	// QuotaBytes caps what one app stores with the local backend
	// (0: no quota). An S3 store has its own quotas.
	QuotaBytes int64 `yaml:"quota_bytes"`
	// UploadTTL is the life of an upload URL; DownloadTTL of the signed
	// URL a download redirects to.
	UploadTTL   time.Duration `yaml:"upload_ttl"`
	DownloadTTL time.Duration `yaml:"download_ttl"`
	// OrphanTTL is how long an upload may stay unreferenced (no message,
	// avatar or group file names it) before it is removed.
	OrphanTTL time.Duration `yaml:"orphan_ttl"`
	// CleanInterval is how often the cleaner removes orphans and the
	// objects of deleted users and destroyed groups.
	CleanInterval time.Duration `yaml:"clean_interval"`
	// TransferTimeout bounds one upload or download through the local
	// endpoint.
	TransferTimeout time.Duration `yaml:"transfer_timeout"`
	// MaxImagePixels bounds the images the server decodes for
	// thumbnails (width x height), so a small file cannot ask for
	// gigabytes of memory.
	MaxImagePixels int64   `yaml:"max_image_pixels"`
	S3             FilesS3 `yaml:"s3"`
}

// FilesS3 is the S3-compatible store. The credentials may come from
// CHATGATE_FILES_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY / _SESSION_TOKEN,
// or else from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN.
type FilesS3 struct {
	// Endpoint is the store's URL, e.g. https://s3.eu-west-1.amazonaws.com,
	// https://oss-cn-hangzhou.aliyuncs.com or http://minio:9000.
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	Bucket   string `yaml:"bucket"`
	// Prefix goes before every object name, so that one bucket can serve
	// several deployments.
	Prefix string `yaml:"prefix"`
	// PathStyle uses http://host/bucket/key URLs (MinIO, Ceph and most
	// self-hosted stores) instead of virtual-host style.
	PathStyle       bool   `yaml:"path_style"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	SessionToken    string `yaml:"session_token"`
}

// Default file settings.
func defaultFiles() Files {
	return Files{
		Backend:         "local",
		MaxFileBytes:    100 << 20,
		MaxAvatarBytes:  5 << 20,
		UploadTTL:       15 * time.Minute,
		DownloadTTL:     10 * time.Minute,
		OrphanTTL:       24 * time.Hour,
		CleanInterval:   10 * time.Minute,
		TransferTimeout: 10 * time.Minute,
		MaxImagePixels:  50_000_000,
	}
}

func (f Files) validate() error {
	switch {
	case f.Backend != "local" && f.Backend != "s3":
		return fmt.Errorf("config: files.backend must be local or s3")
	case f.Backend == "s3" && (f.S3.Endpoint == "" || f.S3.Bucket == ""):
		return fmt.Errorf("config: files.s3.endpoint and files.s3.bucket are required with the s3 backend")
	case f.MaxFileBytes < 1 || f.MaxAvatarBytes < 1 || f.QuotaBytes < 0:
		return fmt.Errorf("config: files.max_file_bytes and max_avatar_bytes must be positive, quota_bytes >= 0")
	case f.UploadTTL < time.Second || f.UploadTTL > 7*24*time.Hour || f.DownloadTTL < time.Second || f.DownloadTTL > 7*24*time.Hour:
		return fmt.Errorf("config: files.upload_ttl and download_ttl must be 1s-168h")
	case f.OrphanTTL < f.UploadTTL:
		return fmt.Errorf("config: files.orphan_ttl must be at least files.upload_ttl")
	case f.CleanInterval < time.Second || f.TransferTimeout < time.Second:
		return fmt.Errorf("config: files.clean_interval and transfer_timeout must be at least 1s")
	case f.MaxImagePixels < 1:
		return fmt.Errorf("config: files.max_image_pixels must be positive")
	}
	return nil
}
