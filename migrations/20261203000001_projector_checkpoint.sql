-- Where each projector stands in the stream. A projector advances its row in
-- the same transaction as the read-model rows it writes, so after any crash
-- it resumes exactly after what committed (DESIGN.md, "Read models").
create table projector_checkpoint (
    projector text primary key,
    stream text not null,
    position bigint not null check (position >= 0),
    updated_at timestamptz not null default now()
);
