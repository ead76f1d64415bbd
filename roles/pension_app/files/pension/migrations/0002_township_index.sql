-- Township reports (and the clerks' lists) read persons by township.
CREATE INDEX persons_township ON pension.persons (township);
