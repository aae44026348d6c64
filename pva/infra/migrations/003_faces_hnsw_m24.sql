-- Similar-face search at a million faces: with m=16/ef_construction=64 the best recall@10 was 0.94 (ef_search 200,
-- p95 59 ms).  With m=24/ef_construction=128 (bench/faces.py --n 1000000 --intrinsic-dim 16) recall@10 is 0.969
-- at ef_search 64 (p95 10.8 ms) and 0.976 at the service default 100 (p95 14.8 ms); the build takes ~1.4x longer
-- and the index is ~12% bigger.
drop index if exists faces_embedding_hnsw;
create index faces_embedding_hnsw on faces using hnsw (embedding vector_l2_ops) with (m = 24, ef_construction = 128);
