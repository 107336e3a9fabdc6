"""A real Chroma server for tests: ``chroma run`` of the pinned chromadb package on a free loopback port."""

from server.devcluster.chroma import ChromaServer

__all__ = ["ChromaServer"]
