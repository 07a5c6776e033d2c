"""The files of a platform export, as given: a folder, a zip file, or one file (read with caps).

Nothing is extracted to disk: a zip's members are read in memory, each at most MAX_MEMBER_BYTES
(what its directory *says* is checked first, then the bytes actually read, so a zip bomb stops at
the cap), and the whole export at most MAX_TOTAL_BYTES and MAX_MEMBERS files. A folder's symlinks
are not followed. Names are POSIX paths relative to the export's root.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from ...errors import NewsletterError
from ...ingest.pipeline import MAX_IMPORT_BYTES, decode_import_bytes

MAX_MEMBER_BYTES = MAX_IMPORT_BYTES  # one CSV, JSON export or post: the bulk importer's cap
MAX_TOTAL_BYTES = 4 * MAX_IMPORT_BYTES
EXPORT_FOLDERS = ("emails", "posts")  # where Buttondown's and Substack's bodies sit beside their CSV
MAX_MEMBERS = 20_000  # a weekly newsletter's 20 years are ~1,000 issues; an export's media are skipped


class ArchiveError(NewsletterError):
    """The export as a whole cannot be read (one line naming the file and why)."""


class Bundle:
    """An export's files by relative name; `primary` is the file named on the command line, if any."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.primary: str | None = None
        self._zip: zipfile.ZipFile | None = None
        self._read = 0
        try:
            if path.is_dir():
                self.root = path
                self.names = _folder_names(path)
            elif zipfile.is_zipfile(path):
                self.root = path
                self._zip = zipfile.ZipFile(path)
                self.names = [i.filename for i in self._zip.infolist() if not i.is_dir()][: MAX_MEMBERS + 1]
            elif path.is_file():
                # emails.csv or posts.csv names its export folder: the files beside it and its emails/
                # and posts/ folders, not everything below (a JSON export in ~/Downloads is one file)
                self.root = path.parent
                self.primary = path.name
                self.names = _folder_names(path.parent, only=EXPORT_FOLDERS)
            else:
                raise ArchiveError(f"{path}: no such file or folder")
        except (OSError, zipfile.BadZipFile) as exc:
            raise ArchiveError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        if len(self.names) > MAX_MEMBERS:
            raise ArchiveError(f"{path}: more than {MAX_MEMBERS:,} files; point at the export itself")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def find(self, basename: str) -> str | None:
        """The shallowest file called `basename` (case-insensitive), the primary file first."""
        wanted = basename.lower()
        if self.primary and self.primary.lower() == wanted:
            return self.primary
        found = [n for n in self.names if PurePosixPath(n).name.lower() == wanted]
        return min(found, key=lambda n: (n.count("/"), n)) if found else None

    def under(self, folder: str, suffix: str) -> list[str]:
        """Files ending in `suffix` whose parent folder is called `folder` (any depth), sorted."""
        return sorted(
            n for n in self.names if n.lower().endswith(suffix) and PurePosixPath(n).parent.name.lower() == folder
        )

    def with_suffix(self, suffix: str) -> list[str]:
        """Every file ending in `suffix` (just the primary file when one was named), sorted."""
        if self.primary:
            return [self.primary] if self.primary.lower().endswith(suffix) else []
        return sorted(n for n in self.names if n.lower().endswith(suffix) and not _hidden(n))

    def with_suffix_all(self, suffix: str) -> list[str]:
        """Every file of the export ending in `suffix`, whichever file was named, sorted."""
        return sorted(n for n in self.names if n.lower().endswith(suffix) and not _hidden(n))

    def read(self, name: str) -> bytes:
        """One file's bytes; ArchiveError past the caps."""
        try:
            if self._zip is not None:
                info = self._zip.getinfo(name)
                if info.file_size > MAX_MEMBER_BYTES:
                    raise ArchiveError(f"{self.path}: {name} is larger than {MAX_MEMBER_BYTES // 1_000_000} MB")
                with self._zip.open(info) as handle:
                    data = handle.read(MAX_MEMBER_BYTES + 1)
            else:
                with (self.root / name).open("rb") as handle:
                    data = handle.read(MAX_MEMBER_BYTES + 1)
        except (OSError, KeyError, zipfile.BadZipFile, RuntimeError) as exc:
            raise ArchiveError(f"{self.path}: cannot read {name} ({getattr(exc, 'strerror', None) or exc})") from None
        if len(data) > MAX_MEMBER_BYTES:
            raise ArchiveError(f"{self.path}: {name} is larger than {MAX_MEMBER_BYTES // 1_000_000} MB")
        self._read += len(data)
        if self._read > MAX_TOTAL_BYTES:
            raise ArchiveError(f"{self.path}: more than {MAX_TOTAL_BYTES // 1_000_000} MB of text; split the export")
        return data

    def text(self, name: str) -> str:
        """One file as text (BOM, UTF-16, UTF-8 or windows-1252, as the bulk importer decodes)."""
        return decode_import_bytes(self.read(name)).lstrip("\ufeff")


def _hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts)


def _folder_names(root: Path, *, only: tuple[str, ...] | None = None) -> list[str]:
    """Files below `root` (with `only`: those directly in it, and those below its folders of these names)."""
    names: list[str] = []
    found = (
        sorted(root.rglob("*"))
        if only is None
        else sorted(
            [
                *root.iterdir(),
                *(
                    p
                    for sub in only
                    if (root / sub).is_dir() and not (root / sub).is_symlink()
                    for p in (root / sub).rglob("*")
                ),
            ]
        )
    )
    for path in found:
        if path.is_symlink() or not path.is_file():
            continue
        names.append(path.relative_to(root).as_posix())
        if len(names) > MAX_MEMBERS:
            break
    return names
