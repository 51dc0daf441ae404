"""Move a training run's files between this machine and object storage (pyarrow.fs).

A RayJob runs on its own Ray cluster, which cannot see the pipeline step's disk: the step stages the
inputs under a URI, the cluster reads them, trains, and writes its outputs back beside them. URIs:

- `s3://bucket/prefix`: AWS S3, or an S3-compatible store (MinIO) when `settings.s3_endpoint` is set
  (`http://minio.kubeflow:9000` talks plain HTTP). Credentials come from the environment
  (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, or the pod's workload identity).
- `gs://bucket/prefix`: Google Cloud Storage, with the application default credentials.
- `file:///absolute/path`: a local or mounted folder (local runs and tests).

A file and a folder tree move the same way; a folder's tree is copied whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cxops.config import Settings
from cxops.errors import CXOpsError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    import pyarrow.fs as pafs

__all__ = [
    "SCHEMES",
    "download",
    "exists",
    "join_uri",
    "read_text",
    "remove",
    "resolve",
    "upload",
    "write_text",
]

SCHEMES = ("s3", "gs", "file")
_FIX = (
    "check the URI, the storage credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the pod's workload "
    "identity, or the application default credentials for gs://) and CXOPS_S3_ENDPOINT"
)


def join_uri(uri: str, *parts: str) -> str:
    """`uri` with path parts appended: `join_uri("s3://b/p/", "rayjobs", "x")` -> `s3://b/p/rayjobs/x`."""
    return "/".join([uri.rstrip("/"), *(part.strip("/") for part in parts if part.strip("/"))])


def resolve(uri: str, settings: Settings) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding `uri` and the path on it."""
    import pyarrow
    import pyarrow.fs as pafs

    scheme = urlsplit(uri).scheme.lower() if isinstance(uri, str) else ""
    if scheme not in SCHEMES:
        raise InvalidInputError(
            f"staging URI {uri!r} is not supported: use s3://bucket/prefix, gs://bucket/prefix or "
            "file:///absolute/path (CXOPS_STAGING_URI)"
        )
    if scheme == "s3" and settings.s3_endpoint:
        return _s3_with_endpoint(uri, settings.s3_endpoint)
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pyarrow.ArrowInvalid, ValueError) as error:
        raise InvalidInputError(
            f"staging URI {uri!r} cannot be parsed ({error}); percent-encode spaces and other special "
            "characters (`Path(...).as_uri()` does it for local folders)"
        ) from error
    except OSError as error:  # from_uri asks S3 for the bucket's region
        raise CXOpsError(f"cannot open the storage of {uri}: {error}; {_FIX}", status_code=502) from error


def _s3_with_endpoint(uri: str, endpoint: str) -> tuple[pafs.FileSystem, str]:
    """An S3-compatible store at `endpoint` (`http://host:port`, `https://host`, or a bare `host:port`)."""
    import pyarrow.fs as pafs

    parts = urlsplit(uri)
    if not parts.netloc:
        raise InvalidInputError(f"staging URI {uri!r} names no bucket; use s3://bucket/prefix")
    target = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if target.scheme not in ("http", "https") or not target.netloc:
        raise InvalidInputError(
            f"S3 endpoint {endpoint!r} is not an http(s) address; set CXOPS_S3_ENDPOINT to e.g. "
            "http://minio.kubeflow:9000"
        )
    filesystem = pafs.S3FileSystem(endpoint_override=target.netloc, scheme=target.scheme)
    return filesystem, f"{parts.netloc}{parts.path}".rstrip("/")


def _is_local(filesystem: pafs.FileSystem) -> bool:
    import pyarrow.fs as pafs

    return isinstance(filesystem, pafs.LocalFileSystem)


def exists(uri: str, settings: Settings) -> bool:
    import pyarrow.fs as pafs

    filesystem, path = resolve(uri, settings)
    try:
        return filesystem.get_file_info(path).type != pafs.FileType.NotFound
    except OSError as error:
        raise CXOpsError(f"cannot read {uri}: {error}; {_FIX}", status_code=502) from error


def upload(local: str | Path, uri: str, settings: Settings) -> str:
    """Copy a local file, or a folder's whole tree, to `uri`; returns `uri`."""
    import pyarrow.fs as pafs

    source = Path(local)
    if not source.exists():
        raise NotFoundError(
            f"cannot stage {source} to {uri}: there is no such file or folder on this machine"
        )
    filesystem, path = resolve(uri, settings)
    try:
        if _is_local(filesystem):  # object stores have no folders to create
            filesystem.create_dir(path if source.is_dir() else str(Path(path).parent), recursive=True)
        pafs.copy_files(
            str(source.resolve()),
            path,
            source_filesystem=pafs.LocalFileSystem(),
            destination_filesystem=filesystem,
        )
    except OSError as error:
        raise CXOpsError(f"could not upload {source} to {uri}: {error}; {_FIX}", status_code=502) from error
    return uri


def download(uri: str, local: str | Path, settings: Settings) -> Path:
    """Copy the file, or the folder tree, at `uri` to `local`; returns `local`."""
    import pyarrow.fs as pafs

    target = Path(local)
    filesystem, path = resolve(uri, settings)
    try:
        kind = filesystem.get_file_info(path).type
        if kind == pafs.FileType.NotFound:
            raise NotFoundError(
                f"nothing is staged at {uri}: the run that should have written it did not, or the URI is "
                "wrong; check its logs and the staging URI (CXOPS_STAGING_URI)"
            )
        if kind == pafs.FileType.Directory:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(
            path,
            str(target.resolve()),
            source_filesystem=filesystem,
            destination_filesystem=pafs.LocalFileSystem(),
        )
    except OSError as error:
        raise CXOpsError(f"could not download {uri} to {target}: {error}; {_FIX}", status_code=502) from error
    return target


def write_text(uri: str, text: str, settings: Settings) -> str:
    """Write `text` (UTF-8) as the object at `uri`; returns `uri`."""
    filesystem, path = resolve(uri, settings)
    try:
        if _is_local(filesystem):
            filesystem.create_dir(str(Path(path).parent), recursive=True)
        with filesystem.open_output_stream(path) as stream:
            stream.write(text.encode())
    except OSError as error:
        raise CXOpsError(f"could not write {uri}: {error}; {_FIX}", status_code=502) from error
    return uri


def read_text(uri: str, settings: Settings) -> str:
    """The object at `uri` as UTF-8 text."""
    import pyarrow.fs as pafs

    filesystem, path = resolve(uri, settings)
    try:
        if filesystem.get_file_info(path).type != pafs.FileType.File:
            raise NotFoundError(f"no file is staged at {uri}; check the run that should have written it")
        with filesystem.open_input_stream(path) as stream:
            return stream.read().decode()
    except OSError as error:
        raise CXOpsError(f"could not read {uri}: {error}; {_FIX}", status_code=502) from error


def remove(uri: str, settings: Settings) -> None:
    """Delete the file or folder tree at `uri`; nothing there is not an error."""
    import pyarrow.fs as pafs

    filesystem, path = resolve(uri, settings)
    try:
        kind = filesystem.get_file_info(path).type
        if kind == pafs.FileType.Directory:
            filesystem.delete_dir(path)
        elif kind == pafs.FileType.File:
            filesystem.delete_file(path)
    except OSError as error:
        raise CXOpsError(f"could not delete {uri}: {error}; {_FIX}", status_code=502) from error
