-- Similar faces at a million (issue 20): ef_construction 64 instead of 128 for the faces' HNSW graph.
-- bench/faces.py --n 1000000 --intrinsic-dim 16 on this 2-core machine, quiet: m=24/ef_construction=64 builds in
-- 633 s (the whole bench, load and queries included, in about 13 minutes; with 128 the build alone took 1,064 s)
-- and gives recall@10 0.960 at the service's ef_search 100 with p95 12.3 ms (0.970 and 17.7 ms at ef_search 200;
-- exact search is 159x slower at p50).  m=16 topped out at 0.94 (003_faces_hnsw_m24.sql), so m stays 24.
-- Every face the faces job adds is inserted with the index's ef_construction, so this also roughly halves the
-- graph work per new face.  An index already built keeps its graph (built with 128: no worse); only the faces
-- inserted from now on use 64, so no rebuild is needed on upgrade.
alter index if exists faces_embedding_hnsw set (ef_construction = 64);
