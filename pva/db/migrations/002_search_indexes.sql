-- Indexes for the gateway's search (pva/db/search.py), measured with bench/search.py on 1,000,000 media.
-- Every listing is "one owner, not trashed, newest first, keyset on (sort key, id)", so the sort indexes are
-- partial on trashed_at is null and lead with owner_id; filters that are often rare get their own sorted index
-- so a page is read in order instead of filtering the whole library.

-- timeline / date range, by date taken (falls back to date added) and by date added
create index media_live_taken on media (owner_id, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;
create index media_live_added on media (owner_id, created_at desc, id desc)
    where trashed_at is null;

-- items without a location (a minority in camera libraries, the majority in scanned ones)
create index media_live_nogps on media (owner_id, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null and coalesce(gps_override_lat, gps_lat) is null;

-- camera, file format and kind, each in date order
create index media_live_camera on media (owner_id, camera_make, camera_model, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;
create index media_live_format on media (owner_id, format, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;
create index media_live_kind on media (owner_id, kind, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;

-- labels: rare labels start from the label (index-only), common ones probe per media item
create index detections_label_conf_media on detections (label, confidence, media_id);
create index detections_media_label on detections (media_id, label, confidence);

-- people: the media of one person
create index faces_person_media on faces (person_id, media_id) where person_id is not null;

-- text: comments by media for the detail page are covered by comments_media; OCR/transcripts/names use their GIN
-- indexes from 001.
