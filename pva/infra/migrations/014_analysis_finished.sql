-- issue 20: the jobs page shows each analysis's backlog with a rate and an ETA, from the jobs finished in the
-- last minutes; this index keeps that read to the recent rows of a library with hundreds of thousands of jobs.
create index if not exists analysis_finished on analysis(finished_at) where finished_at is not null;
