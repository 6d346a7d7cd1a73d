"""The cover library: an index directory of covers, their vectors and metadata."""

from index.library import CoverIndex, CoverRecord, FaceRecord, IndexWriter, SearchHit

__all__ = ["CoverIndex", "CoverRecord", "FaceRecord", "IndexWriter", "SearchHit"]
