// Package hub downloads model files from the Hugging Face Hub into the same
// on-disk cache that the Python huggingface_hub library uses, so a model
// fetched by either is reused by the other.
//
// The cache (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)
// holds one folder per repository:
//
//	models--Org--Name/
//	  refs/main                   the commit sha that "main" last resolved to
//	  blobs/<etag>                file contents, named by the Hub's ETag
//	                              (the sha256 for LFS files)
//	  snapshots/<sha>/<file>      relative symlink to ../../blobs/<etag>
//
// [Client.Download] asks the Hub (a HEAD request on the resolve URL) which
// commit and blob a file currently is, reuses the blob if it is already
// cached, and otherwise streams it into blobs/<etag>.incomplete, resuming
// with an HTTP Range request after an interrupted transfer and checking an
// LFS file's sha256 against its ETag before moving it into place. In offline
// mode, or when the network is down, files resolve from the cache alone.
//
// The package has no global state: a [Client] carries the endpoint, token,
// cache directory and HTTP client, and [NewClientFromEnv] fills them from the
// environment variables huggingface_hub reads.
package hub
