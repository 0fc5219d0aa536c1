"""The spool: durable entries, one per (path, content), a cap that never deletes."""

import hashlib
import os

import pytest
import zstandard

from edge.errors import SourceChanged, SpoolFull
from edge.fsck import database_problem, fsck, open_spool
from edge.spool import ACKNOWLEDGED, CORRUPT, PENDING, Spool


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def spooled_bytes(spool, entry) -> bytes:
    d = zstandard.ZstdDecompressor()
    return b"".join(d.decompress(spool.chunk_frame(entry.upload_id, i))
                    for i in range(len(entry.chunks)))


def test_a_file_is_spooled_in_independently_compressed_chunks_with_their_hashes(tmp_path):
    data = os.urandom(300_000) + b"a" * 700_000
    source = write(tmp_path / "in" / "scan.raw", data)
    spool = Spool(tmp_path / "spool", chunk_size=256 * 1024)
    entry = spool.ingest(source, "scan.raw")
    assert entry.sha256 == hashlib.sha256(data).hexdigest()
    assert [c.size for c in entry.chunks] == [262144, 262144, 262144, 213568]
    for i, chunk in enumerate(entry.chunks):
        original = data[i * 262144:(i + 1) * 262144]
        assert chunk.sha256 == hashlib.sha256(original).hexdigest()
        assert zstandard.ZstdDecompressor().decompress(spool.chunk_frame(entry.upload_id, i)) \
            == original
    assert spool.pending() == [entry]


def test_an_empty_file_has_no_chunks(tmp_path):
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(write(tmp_path / "empty.dat", b""), "empty.dat")
    assert entry.chunks == [] and entry.size == 0
    assert entry.sha256 == hashlib.sha256(b"").hexdigest()


def test_the_same_content_at_the_same_path_is_spooled_once(tmp_path):
    spool = Spool(tmp_path / "spool")
    source = write(tmp_path / "a.txt", b"one")
    first = spool.ingest(source, "a.txt")
    os.utime(source, (1, 1))  # touched, same bytes
    assert spool.ingest(source, "a.txt") is None
    source.write_bytes(b"two")
    second = spool.ingest(source, "a.txt")
    assert second.upload_id != first.upload_id
    assert {e.sha256 for e in spool.pending()} == {hashlib.sha256(b"one").hexdigest(),
                                                   hashlib.sha256(b"two").hexdigest()}


def test_a_vanished_file_is_reported_and_leaves_nothing_behind(tmp_path):
    spool = Spool(tmp_path / "spool")
    with pytest.raises(SourceChanged, match="vanished"):
        spool.ingest(tmp_path / "gone.dat", "gone.dat")
    assert spool.pending() == []
    assert list(spool.entries.iterdir()) == []


def test_a_full_spool_refuses_new_files_and_keeps_every_unacknowledged_one(tmp_path):
    spool = Spool(tmp_path / "spool", cap_bytes=30_000)
    first = spool.ingest(write(tmp_path / "1.bin", os.urandom(20_000)), "1.bin")
    with pytest.raises(SpoolFull, match="spool full"):
        spool.ingest(write(tmp_path / "2.bin", os.urandom(20_000)), "2.bin")
    assert [e.upload_id for e in spool.pending()] == [first.upload_id]
    assert spooled_bytes(spool, first) == (tmp_path / "1.bin").read_bytes()
    spool.mark_acknowledged([(first.upload_id, "file_1")])
    assert not spool.entry_directory(first.upload_id).exists()  # freed after the ack
    assert spool.ingest(tmp_path / "2.bin", "2.bin") is not None


def test_a_file_larger_than_the_whole_cap_goes_in_alone_instead_of_waiting_for_ever(tmp_path):
    spool = Spool(tmp_path / "spool", cap_bytes=30_000)
    small = spool.ingest(write(tmp_path / "small.bin", os.urandom(10_000)), "small.bin")
    large = write(tmp_path / "large.bin", os.urandom(50_000))
    with pytest.raises(SpoolFull):  # not while anything else is held
        spool.ingest(large, "large.bin")
    spool.mark_acknowledged([(small.upload_id, "file_small")])
    entry = spool.ingest(large, "large.bin")
    assert spooled_bytes(spool, entry) == large.read_bytes()
    with pytest.raises(SpoolFull):  # and nothing joins it until it is acknowledged
        spool.ingest(write(tmp_path / "next.bin", os.urandom(100)), "next.bin")


def test_acknowledged_entries_leave_the_queue(tmp_path):
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(write(tmp_path / "a", b"x"), "a")
    spool.mark_in_flight(entry.upload_id)
    assert [e.upload_id for e in spool.pending()] == [entry.upload_id]  # resumed after a crash
    spool.mark_acknowledged([(entry.upload_id, "file_a")])
    assert spool.pending() == []
    assert spool.get(entry.upload_id).state == ACKNOWLEDGED


def test_fsck_rereads_a_corrupt_chunk_from_its_source(tmp_path):
    data = os.urandom(50_000)
    source = write(tmp_path / "a.bin", data)
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(source, "a.bin")
    chunk = spool.entry_directory(entry.upload_id) / "000000.zst"
    chunk.write_bytes(b"garbage" + chunk.read_bytes()[7:])
    spool.close()
    report = fsck(tmp_path / "spool")
    assert any("chunk 0" in p for p in report.problems)
    assert any("re-read" in r for r in report.repaired)
    spool = Spool(tmp_path / "spool")
    [fresh] = spool.pending()
    assert spooled_bytes(spool, fresh) == data and fresh.state == PENDING


def test_fsck_keeps_a_corrupt_entry_whose_source_is_gone_without_blocking_others(tmp_path):
    spool = Spool(tmp_path / "spool")
    lost = spool.ingest(write(tmp_path / "lost.bin", b"x" * 1000), "lost.bin")
    kept = spool.ingest(write(tmp_path / "kept.bin", b"y" * 1000), "kept.bin")
    (spool.entry_directory(lost.upload_id) / "000000.zst").unlink()
    (tmp_path / "lost.bin").unlink()
    spool.close()
    report = fsck(tmp_path / "spool")
    assert any("lost.bin" in p and "gone" in p for p in report.problems)
    spool = open_spool(tmp_path / "spool")
    assert [e.upload_id for e in spool.pending()] == [kept.upload_id]
    assert spool.get(lost.upload_id).state == CORRUPT


def test_a_torn_entry_without_its_row_is_removed_at_start_up(tmp_path):
    spool = Spool(tmp_path / "spool")
    (spool.entries / ".partial-abc").mkdir()
    (spool.entries / ".partial-abc" / "000000.zst").write_bytes(b"half")
    spool.close()
    spool = open_spool(tmp_path / "spool")
    assert list(spool.entries.iterdir()) == []


def test_a_corrupted_database_page_is_rebuilt_from_rows_and_manifests(tmp_path):
    spool = Spool(tmp_path / "spool")
    datas = {f"f{i}.bin": os.urandom(2000) for i in range(40)}
    for name, data in datas.items():
        spool.ingest(write(tmp_path / "in" / name, data), name)
    spool.close()
    db = tmp_path / "spool" / "spool.db"
    raw = bytearray(db.read_bytes())
    raw[4096:4096 * 3] = os.urandom(8192)  # pages 2 and 3
    db.write_bytes(bytes(raw))
    assert database_problem(db) is not None
    report = fsck(tmp_path / "spool")
    assert report.database_recovered
    assert database_problem(db) is None
    spool = Spool(tmp_path / "spool")
    pending = spool.pending(limit=1000)
    assert sorted(e.path for e in pending) == sorted(datas)
    for entry in pending:
        assert spooled_bytes(spool, entry) == datas[entry.path]


def test_an_entry_left_without_its_row_is_requeued_only_when_its_chunks_verify(tmp_path):
    spool = Spool(tmp_path / "spool")
    good = spool.ingest(write(tmp_path / "good.bin", os.urandom(3000)), "good.bin")
    bad = spool.ingest(write(tmp_path / "bad.bin", os.urandom(3000)), "bad.bin")
    frame = spool.entry_directory(bad.upload_id) / "000000.zst"
    frame.write_bytes(bytes(len(frame.read_bytes())))  # right size, zeros: never synced
    with spool.db.conn:  # as if the power went before the batch's rows were committed
        spool.db.execute("DELETE FROM files")
    spool.close()
    spool = open_spool(tmp_path / "spool")
    assert [e.upload_id for e in spool.pending()] == [good.upload_id]
    assert not spool.entry_directory(bad.upload_id).exists()


def test_a_source_whose_entry_row_was_lost_is_read_again(tmp_path):
    spool = Spool(tmp_path / "spool")
    source = write(tmp_path / "a.bin", b"data")
    spool.ingest(source, "a.bin")
    with spool.db.conn:  # a rebuilt database kept 'seen' but lost the entry
        spool.db.execute("DELETE FROM files")
    assert not spool.is_unchanged(source)
    assert spool.ingest(source, "a.bin") is not None
