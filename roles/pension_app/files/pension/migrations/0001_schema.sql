-- The insured, their enrollment and their contributions; the requests already answered.
CREATE TABLE pension.persons (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_number char(18) NOT NULL UNIQUE CHECK (id_number ~ '^[0-9]{17}[0-9X]$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    township text NOT NULL CHECK (length(township) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pension.enrollments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id bigint NOT NULL UNIQUE REFERENCES pension.persons (id),
    enrolled_on date NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'terminated')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pension.contributions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id bigint NOT NULL REFERENCES pension.persons (id),
    year smallint NOT NULL CHECK (year >= 2009),
    grade smallint NOT NULL CHECK (grade BETWEEN 1 AND 15),
    amount numeric(10, 2) NOT NULL CHECK (amount > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (person_id, year)
);

-- Idempotency: one row per client-supplied request_id, claimed before the write it answers.
CREATE TABLE pension.requests (
    request_id text PRIMARY KEY,
    endpoint text NOT NULL,
    fingerprint text NOT NULL,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
