"""Staging files and folder trees to object-storage URIs: real round trips through pyarrow.fs on file://
URIs; for s3:// only the filesystem that would be used is checked (no S3 server here)."""

import pyarrow.fs as pafs
import pytest

from cxops.config import Settings
from cxops.errors import InvalidInputError, NotFoundError
from cxops.training import staging


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "model"
    (root / "drift").mkdir(parents=True)
    (root / "model.json").write_text('{"threshold": 0.3}')
    (root / "model.ubj").write_bytes(bytes(range(256)) * 40)
    (root / "drift" / "reference.csv").write_text("a,b\n1,2\n")
    return root


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_folder_tree_goes_up_and_comes_back_whole(tree, tmp_path, settings):
    uri = staging.join_uri((tmp_path / "bucket").as_uri(), "rayjobs", "job-1", "outputs", "model")

    assert staging.upload(tree, uri, settings) == uri
    assert staging.exists(uri, settings)
    back = staging.download(uri, tmp_path / "back" / "model", settings)

    assert _files(back) == _files(tree)
    assert (
        tmp_path / "bucket" / "rayjobs" / "job-1" / "outputs" / "model" / "drift" / "reference.csv"
    ).is_file()


def test_a_single_file_goes_up_and_comes_back(tmp_path, settings):
    source = tmp_path / "entities.parquet"
    source.write_bytes(b"PAR1" + b"x" * 1000)
    uri = staging.join_uri((tmp_path / "bucket").as_uri(), "inputs", "entities.parquet")

    staging.upload(source, uri, settings)
    back = staging.download(uri, tmp_path / "deep" / "down" / "entities.parquet", settings)

    assert back.read_bytes() == source.read_bytes()


def test_text_objects_and_removal(tmp_path, settings, tree):
    prefix = staging.join_uri((tmp_path / "bucket").as_uri(), "job")
    staging.write_text(staging.join_uri(prefix, "outputs", "summary.json"), '{"rows": 3}', settings)
    staging.upload(tree, staging.join_uri(prefix, "outputs", "model"), settings)

    assert staging.read_text(staging.join_uri(prefix, "outputs", "summary.json"), settings) == '{"rows": 3}'
    staging.remove(prefix, settings)
    assert not staging.exists(prefix, settings)
    assert not (tmp_path / "bucket" / "job").exists()
    staging.remove(prefix, settings)  # nothing there: not an error


def test_uris_with_spaces_work_percent_encoded(tmp_path, settings):
    source = tmp_path / "a file.txt"
    source.write_text("hello")
    uri = (tmp_path / "my bucket" / "a file.txt").as_uri()
    assert "%20" in uri

    staging.upload(source, uri, settings)

    assert (tmp_path / "my bucket" / "a file.txt").read_text() == "hello"
    with pytest.raises(InvalidInputError, match="percent-encode"):
        staging.upload(source, f"file://{tmp_path}/my bucket/b.txt", settings)


def test_missing_sources_are_named_with_the_fix(tmp_path, settings):
    missing = tmp_path / "nope.parquet"
    uri = (tmp_path / "bucket" / "x.parquet").as_uri()
    with pytest.raises(NotFoundError, match="no such file or folder") as error:
        staging.upload(missing, uri, settings)
    assert str(missing) in str(error.value) and uri in str(error.value)

    with pytest.raises(NotFoundError, match="nothing is staged at") as error:
        staging.download(uri, tmp_path / "x.parquet", settings)
    assert uri in str(error.value) and "CXOPS_STAGING_URI" in str(error.value)
    with pytest.raises(NotFoundError, match="no file is staged"):
        staging.read_text(uri, settings)


@pytest.mark.parametrize("uri", ["/tmp/plain/path", "http://example.com/x", "hdfs://nn/x", ""])
def test_unsupported_uris_are_refused(uri, settings):
    with pytest.raises(InvalidInputError, match="s3://bucket/prefix, gs://bucket/prefix or file:///"):
        staging.resolve(uri, settings)


def test_join_uri_keeps_the_scheme_and_single_slashes():
    assert staging.join_uri("s3://b/p/", "rayjobs", "/x/", "") == "s3://b/p/rayjobs/x"
    assert staging.join_uri("file:///tmp/s", "a") == "file:///tmp/s/a"


def _s3_options(filesystem):
    return filesystem.__reduce__()[1][0]


def test_s3_uses_the_configured_endpoint_and_its_scheme(tmp_path):
    minio = Settings(home=tmp_path / "home", s3_endpoint="http://minio.kubeflow:9000")
    filesystem, path = staging.resolve("s3://mlpipeline/staging/rayjobs/job-1", minio)

    assert isinstance(filesystem, pafs.S3FileSystem)
    assert path == "mlpipeline/staging/rayjobs/job-1"
    options = _s3_options(filesystem)
    assert (options["endpoint_override"], options["scheme"]) == ("minio.kubeflow:9000", "http")

    bare = Settings(home=tmp_path / "home", s3_endpoint="storage.example.com:9443")
    options = _s3_options(staging.resolve("s3://b/k", bare)[0])
    assert (options["endpoint_override"], options["scheme"]) == ("storage.example.com:9443", "https")

    wrong = Settings(home=tmp_path / "home", s3_endpoint="ftp://minio:21")
    with pytest.raises(InvalidInputError, match="CXOPS_S3_ENDPOINT"):
        staging.resolve("s3://b/k", wrong)
    with pytest.raises(InvalidInputError, match="names no bucket"):
        staging.resolve("s3:///k", minio)
