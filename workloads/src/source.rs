//! Where ingest reads from: a local directory or file, or an object-store URI
//! (`file:///…`, `s3://bucket/prefix`). Both URI kinds go through one code
//! path (the `object_store` crate): the objects under the prefix are listed,
//! recognised by name and first bytes like local files, and streamed to the
//! readers chunk by chunk, never held whole in memory.
//!
//! S3 credentials and endpoint come from the standard AWS environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT` for S3-compatible stores, `AWS_ALLOW_HTTP`), or from the
//! pod's IAM role (IRSA) on EKS.

use crate::readers::{self, SourceFormat};
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc::{Receiver, Sender};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}: {1}")]
    Local(String, io::Error),
    #[error("{uri}: {reason}")]
    Uri { uri: String, reason: String },
    #[error("{uri}: {source}")]
    Store {
        uri: String,
        source: object_store::Error,
    },
}

/// One dataset file of a source.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in reports, errors and dead letters.
    pub name: String,
    pub format: SourceFormat,
    location: Location,
}

#[derive(Debug, Clone)]
enum Location {
    Local(PathBuf),
    Object(ObjectPath),
}

/// The dataset files of a `--source`.
pub struct Source {
    pub files: Vec<SourceFile>,
    store: Option<(Arc<dyn ObjectStore>, tokio::runtime::Runtime)>,
}

const HEAD_BYTES: u64 = 4096;

impl Source {
    /// Resolves a directory, a file, or a `file://` / `s3://` URI.
    pub fn open(source: &str) -> Result<Source, SourceError> {
        match source.split_once("://") {
            None => Self::local(source),
            Some(("file" | "s3", _)) => Self::object_store(source),
            Some((scheme, _)) => Err(SourceError::Uri {
                uri: source.into(),
                reason: format!(
                    "{scheme}:// is not a supported source (use a path, file:// or s3://)"
                ),
            }),
        }
    }

    fn local(path: &str) -> Result<Source, SourceError> {
        let p = PathBuf::from(path);
        let err = |e| SourceError::Local(path.into(), e);
        let found = if p.is_dir() {
            let listing = readers::dataset_files(&p).map_err(err)?;
            listing.report_unrecognised();
            listing.files
        } else {
            match readers::detect_format(&p).map_err(err)? {
                Some(format) => vec![(p, format)],
                None => {
                    return Err(SourceError::Uri {
                        uri: path.into(),
                        reason: readers::NOT_A_DATASET_FILE.into(),
                    })
                }
            }
        };
        let files = found
            .into_iter()
            .map(|(p, format)| SourceFile {
                name: file_name(&p.to_string_lossy()),
                format,
                location: Location::Local(p),
            })
            .collect();
        Self::non_empty(Source { files, store: None }, path)
    }

    fn object_store(uri: &str) -> Result<Source, SourceError> {
        let url = url::Url::parse(uri).map_err(|e| SourceError::Uri {
            uri: uri.into(),
            reason: e.to_string(),
        })?;
        let store_err = |source| SourceError::Store {
            uri: uri.into(),
            source,
        };
        let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) = if url.scheme() == "s3" {
            let bucket = url.host_str().ok_or_else(|| SourceError::Uri {
                uri: uri.into(),
                reason: "no bucket".into(),
            })?;
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(store_err)?;
            (
                Arc::new(s3),
                ObjectPath::from(url.path().trim_start_matches('/')),
            )
        } else {
            let local = object_store::local::LocalFileSystem::new();
            let prefix = ObjectPath::from_url_path(url.path()).map_err(|e| store_err(e.into()))?;
            (Arc::new(local), prefix)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("object-store")
            .enable_all()
            .build()
            .map_err(|e| SourceError::Local(uri.into(), e))?;
        let files = runtime.block_on(async {
            // A prefix that names one object is that object; otherwise everything under it.
            let objects: Vec<ObjectPath> = match store.head(&prefix).await {
                Ok(meta) => vec![meta.location],
                Err(_) => {
                    let mut listed: Vec<ObjectPath> = store
                        .list(Some(&prefix))
                        .filter_map(|m| async move { m.ok().map(|m| m.location) })
                        .collect()
                        .await;
                    listed.sort();
                    listed
                }
            };
            let mut files = Vec::new();
            for location in objects {
                let head = match store.get_range(&location, 0..HEAD_BYTES).await {
                    Ok(bytes) => bytes,
                    // Shorter than the window: read it whole.
                    Err(_) => store
                        .get(&location)
                        .await
                        .map_err(store_err)?
                        .bytes()
                        .await
                        .map_err(store_err)?,
                };
                match readers::detect_from(std::path::Path::new(location.as_ref()), &head) {
                    Some(format) => files.push(SourceFile {
                        name: file_name(location.as_ref()),
                        format,
                        location: Location::Object(location),
                    }),
                    None => readers::report_unrecognised(std::path::Path::new(location.as_ref())),
                }
            }
            Ok::<_, SourceError>(files)
        })?;
        Self::non_empty(
            Source {
                files,
                store: Some((store, runtime)),
            },
            uri,
        )
    }

    fn non_empty(source: Source, shown: &str) -> Result<Source, SourceError> {
        if source.files.is_empty() {
            return Err(SourceError::Uri {
                uri: shown.into(),
                reason: "no dataset files found".into(),
            });
        }
        Ok(source)
    }

    /// A reader of one file's bytes (objects are streamed in chunks).
    pub fn reader(&self, file: &SourceFile) -> io::Result<Box<dyn BufRead + Send>> {
        match (&file.location, &self.store) {
            (Location::Local(path), _) => Ok(Box::new(BufReader::with_capacity(
                256 * 1024,
                std::fs::File::open(path)?,
            ))),
            (Location::Object(location), Some((store, runtime))) => {
                let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(16);
                let store = store.clone();
                let location = location.clone();
                runtime.spawn(async move {
                    let stream = match store.get(&location).await {
                        Ok(result) => result.into_stream(),
                        Err(e) => {
                            let _ = tx.send(Err(io::Error::other(e))).await;
                            return;
                        }
                    };
                    stream_into(stream, tx).await;
                });
                Ok(Box::new(BufReader::with_capacity(
                    256 * 1024,
                    ChunkReader {
                        chunks: rx,
                        current: Bytes::new(),
                    },
                )))
            }
            (Location::Object(_), None) => Err(io::Error::other("object source without a store")),
        }
    }
}

async fn stream_into(
    mut stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    tx: Sender<io::Result<Bytes>>,
) {
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(io::Error::other);
        let failed = chunk.is_err();
        // A full channel makes this wait: that is the back-pressure.
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

/// `Read` over chunks arriving from the object store.
struct ChunkReader {
    chunks: Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0), // the stream ended
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn file_name(path: &str) -> String {
    path.rsplit(['/', '\\']).next().unwrap_or(path).to_string()
}
