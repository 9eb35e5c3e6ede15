-- Runs once, when the postgres container initialises an empty volume
-- (/docker-entrypoint-initdb.d). Same databases as deploy/local/postgres.sh creates.
CREATE DATABASE gateway;
CREATE DATABASE ideas;
CREATE DATABASE documents;
CREATE DATABASE egov;
CREATE DATABASE sensors;
