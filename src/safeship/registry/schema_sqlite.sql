-- Made by `python -m safeship.registry.schema` from registry/models.py: do not edit.
CREATE TABLE action_nonces (
	digest VARCHAR(64) NOT NULL, 
	actor VARCHAR(255) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	target VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	used_at DATETIME, 
	outcome TEXT, 
	CONSTRAINT pk_action_nonces PRIMARY KEY (digest)
);

CREATE INDEX ix_action_nonces_created_at ON action_nonces (created_at);

CREATE TABLE alert_states (
	environment VARCHAR(100) NOT NULL, 
	condition VARCHAR(64) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	firing_since DATETIME NOT NULL, 
	last_notified DATETIME NOT NULL, 
	deployment_id CHAR(32), 
	deliveries JSON NOT NULL, 
	CONSTRAINT pk_alert_states PRIMARY KEY (environment, condition)
);

CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(255) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	target VARCHAR(255), 
	outcome VARCHAR(16) NOT NULL, 
	client VARCHAR(64), 
	detail TEXT NOT NULL, 
	CONSTRAINT pk_audit_log PRIMARY KEY (id)
);

CREATE INDEX ix_audit_log_at ON audit_log (at);

CREATE TABLE deployments (
	id CHAR(32) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	version VARCHAR(255) NOT NULL, 
	commit_sha VARCHAR(64), 
	triggered_by VARCHAR(255) NOT NULL, 
	started_at DATETIME NOT NULL, 
	completed_at DATETIME, 
	status VARCHAR(32) NOT NULL, 
	current_step INTEGER, 
	health_score FLOAT, 
	error_count INTEGER DEFAULT 0 NOT NULL, 
	rollback_reason TEXT, 
	path VARCHAR(100), 
	strategy VARCHAR(32), 
	rollback_rule VARCHAR(64), 
	gate_verdict VARCHAR(32), 
	stable_version VARCHAR(255), 
	paused_at INTEGER, 
	notes TEXT, 
	CONSTRAINT pk_deployments PRIMARY KEY (id), 
	CONSTRAINT ck_deployments_health_score_range CHECK (health_score IS NULL OR (health_score >= 0 AND health_score <= 1))
);

CREATE INDEX ix_deployments_environment_started_at ON deployments (environment, started_at);

CREATE INDEX ix_deployments_environment_status ON deployments (environment, status);

CREATE INDEX ix_deployments_started_at ON deployments (started_at);

CREATE INDEX ix_deployments_started_at_id ON deployments (started_at, id);

CREATE TABLE drills (
	id INTEGER NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	serving_version VARCHAR(255) NOT NULL, 
	previous_version VARCHAR(255) NOT NULL, 
	triggered_by VARCHAR(255) NOT NULL, 
	outcome VARCHAR(32), 
	reason TEXT, 
	legs JSON NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	CONSTRAINT pk_drills PRIMARY KEY (id)
);

CREATE INDEX ix_drills_environment ON drills (environment);

CREATE TABLE env_snapshots (
	id CHAR(32) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	taken_at DATETIME NOT NULL, 
	taken_by VARCHAR(255) NOT NULL, 
	fingerprint_key_id VARCHAR(64), 
	variables JSON NOT NULL, 
	CONSTRAINT pk_env_snapshots PRIMARY KEY (id)
);

CREATE INDEX ix_env_snapshots_environment_taken_at ON env_snapshots (environment, taken_at);

CREATE TABLE environment_leases (
	environment VARCHAR(100) NOT NULL, 
	holder VARCHAR(255) NOT NULL, 
	token CHAR(32) NOT NULL, 
	deployment_id CHAR(32), 
	acquired_at DATETIME NOT NULL, 
	heartbeat_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_environment_leases PRIMARY KEY (environment)
);

CREATE TABLE environment_pauses (
	id INTEGER NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	reason TEXT NOT NULL, 
	failures INTEGER NOT NULL, 
	first_failed_at DATETIME NOT NULL, 
	last_failed_at DATETIME NOT NULL, 
	since DATETIME, 
	lifted_at DATETIME, 
	CONSTRAINT pk_environment_pauses PRIMARY KEY (id)
);

CREATE INDEX ix_environment_pauses_environment ON environment_pauses (environment);

CREATE TABLE job_runs (
	job VARCHAR(64) NOT NULL, 
	run_key VARCHAR(255) NOT NULL, 
	holder VARCHAR(255) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	ok BOOLEAN, 
	error TEXT, 
	CONSTRAINT pk_job_runs PRIMARY KEY (job, run_key)
);

CREATE TABLE notifications (
	id CHAR(32) NOT NULL, 
	created_at DATETIME NOT NULL, 
	channel VARCHAR(100) NOT NULL, 
	fallbacks JSON NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	condition VARCHAR(64) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	alert JSON NOT NULL, 
	group_key VARCHAR(255) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	claimed_by VARCHAR(255), 
	claimed_until DATETIME, 
	delivered_at DATETIME, 
	last_error TEXT, 
	CONSTRAINT pk_notifications PRIMARY KEY (id), 
	CONSTRAINT ck_notifications_notification_status CHECK (status IN ('pending', 'delivered', 'failed', 'dropped'))
);

CREATE INDEX ix_notifications_status_group_key_created_at ON notifications (status, group_key, created_at);

CREATE TABLE prepush_runs (
	id INTEGER NOT NULL, 
	ran_at DATETIME NOT NULL, 
	repository VARCHAR(255) NOT NULL, 
	branch VARCHAR(255), 
	commit_sha VARCHAR(64), 
	verdict VARCHAR(16) NOT NULL, 
	duration_seconds FLOAT NOT NULL, 
	failed_checks JSON NOT NULL, 
	CONSTRAINT pk_prepush_runs PRIMARY KEY (id), 
	CONSTRAINT ck_prepush_runs_prepush_verdict CHECK (verdict IN ('passed', 'blocked'))
);

CREATE INDEX ix_prepush_runs_ran_at ON prepush_runs (ran_at);

CREATE TABLE releases (
	id INTEGER NOT NULL, 
	version VARCHAR(255) NOT NULL, 
	commit_sha VARCHAR(64), 
	target VARCHAR(100), 
	status VARCHAR(16) NOT NULL, 
	reason TEXT, 
	triggered_by VARCHAR(255) NOT NULL, 
	holder VARCHAR(255) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	CONSTRAINT pk_releases PRIMARY KEY (id), 
	CONSTRAINT ck_releases_release_status CHECK (status IN ('running', 'succeeded', 'failed', 'aborted'))
);

CREATE INDEX ix_releases_version ON releases (version);

CREATE TABLE rotations (
	id INTEGER NOT NULL, 
	secret VARCHAR(128) NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	category VARCHAR(32) NOT NULL, 
	environments JSON NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	step VARCHAR(128), 
	triggered_by VARCHAR(255) NOT NULL, 
	holder VARCHAR(255), 
	reason TEXT, 
	grace_until DATETIME, 
	started_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	CONSTRAINT pk_rotations PRIMARY KEY (id)
);

CREATE INDEX ix_rotations_secret ON rotations (secret);

CREATE TABLE signin_failures (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	user_name VARCHAR(255) NOT NULL, 
	client VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_signin_failures PRIMARY KEY (id)
);

CREATE INDEX ix_signin_failures_client_at ON signin_failures (client, at);

CREATE INDEX ix_signin_failures_user_name_at ON signin_failures (user_name, at);

CREATE TABLE users (
	name VARCHAR(64) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	password_hash TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	password_changed_at DATETIME NOT NULL, 
	CONSTRAINT pk_users PRIMARY KEY (name), 
	CONSTRAINT ck_users_user_role CHECK (role IN ('viewer', 'deployer', 'approver', 'admin'))
);

CREATE TABLE api_tokens (
	id INTEGER NOT NULL, 
	user_name VARCHAR(64) NOT NULL, 
	label VARCHAR(100), 
	prefix VARCHAR(16) NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	last_used_at DATETIME, 
	revoked_at DATETIME, 
	CONSTRAINT pk_api_tokens PRIMARY KEY (id), 
	CONSTRAINT fk_api_tokens_user_name_users FOREIGN KEY(user_name) REFERENCES users (name) ON DELETE CASCADE, 
	CONSTRAINT uq_api_tokens_prefix UNIQUE (prefix)
);

CREATE INDEX ix_api_tokens_user_name ON api_tokens (user_name);

CREATE TABLE approvals (
	id INTEGER NOT NULL, 
	deployment_id CHAR(32) NOT NULL, 
	user_name VARCHAR(255) NOT NULL, 
	decision VARCHAR(16) NOT NULL, 
	reason TEXT, 
	via VARCHAR(16) NOT NULL, 
	at DATETIME NOT NULL, 
	CONSTRAINT pk_approvals PRIMARY KEY (id), 
	CONSTRAINT uq_approvals_deployment_id UNIQUE (deployment_id, user_name), 
	CONSTRAINT ck_approvals_approval_decision CHECK (decision IN ('approve', 'reject')), 
	CONSTRAINT ck_approvals_approval_via CHECK (via IN ('cli', 'dashboard', 'github')), 
	CONSTRAINT fk_approvals_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE TABLE artifacts (
	id CHAR(32) NOT NULL, 
	deployment_id CHAR(32), 
	kind VARCHAR(64) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	media_type VARCHAR(100) NOT NULL, 
	content BLOB NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_artifacts PRIMARY KEY (id), 
	CONSTRAINT ck_artifacts_artifact_size CHECK (size >= 0), 
	CONSTRAINT fk_artifacts_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE INDEX ix_artifacts_deployment_id_kind ON artifacts (deployment_id, kind);

CREATE INDEX ix_artifacts_kind_created_at ON artifacts (kind, created_at);

CREATE TABLE baselines (
	id INTEGER NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	version VARCHAR(255) NOT NULL, 
	deployment_id CHAR(32), 
	path VARCHAR(255) NOT NULL, 
	sample_count INTEGER NOT NULL, 
	errors INTEGER NOT NULL, 
	error_rate FLOAT NOT NULL, 
	mean_ms FLOAT, 
	p50_ms FLOAT, 
	p95_ms FLOAT, 
	p99_ms FLOAT, 
	duration_s FLOAT, 
	cpu_percent FLOAT, 
	rss_mb FLOAT, 
	compared_with VARCHAR(255), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_baselines PRIMARY KEY (id), 
	CONSTRAINT fk_baselines_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE SET NULL
);

CREATE INDEX ix_baselines_environment_version_created_at ON baselines (environment, version, created_at);

CREATE TABLE check_results (
	id INTEGER NOT NULL, 
	deployment_id CHAR(32) NOT NULL, 
	level INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	ok BOOLEAN NOT NULL, 
	critical BOOLEAN NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	detail TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_check_results PRIMARY KEY (id), 
	CONSTRAINT fk_check_results_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE INDEX ix_check_results_deployment_id ON check_results (deployment_id);

CREATE TABLE ci_runs (
	id INTEGER NOT NULL, 
	path VARCHAR(100) NOT NULL, 
	run_id VARCHAR(255) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	version VARCHAR(255), 
	deployment_id CHAR(32), 
	started_at DATETIME, 
	completed_at DATETIME NOT NULL, 
	conclusion VARCHAR(32) NOT NULL, 
	duration_seconds FLOAT, 
	CONSTRAINT pk_ci_runs PRIMARY KEY (id), 
	CONSTRAINT uq_ci_runs_path UNIQUE (path, run_id), 
	CONSTRAINT fk_ci_runs_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE SET NULL
);

CREATE INDEX ix_ci_runs_environment_completed_at ON ci_runs (environment, completed_at);

CREATE TABLE deployment_marks (
	id INTEGER NOT NULL, 
	deployment_id CHAR(32) NOT NULL, 
	mark VARCHAR(32) NOT NULL, 
	marked_by VARCHAR(255) NOT NULL, 
	marked_at DATETIME NOT NULL, 
	reason TEXT, 
	CONSTRAINT pk_deployment_marks PRIMARY KEY (id), 
	CONSTRAINT uq_deployment_marks_deployment_id UNIQUE (deployment_id, mark), 
	CONSTRAINT fk_deployment_marks_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE TABLE deployment_requests (
	id INTEGER NOT NULL, 
	deployment_id CHAR(32) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	requested_by VARCHAR(255) NOT NULL, 
	reason TEXT, 
	created_at DATETIME NOT NULL, 
	handled_at DATETIME, 
	CONSTRAINT pk_deployment_requests PRIMARY KEY (id), 
	CONSTRAINT fk_deployment_requests_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE INDEX ix_deployment_requests_deployment_id ON deployment_requests (deployment_id);

CREATE TABLE events (
	id INTEGER NOT NULL, 
	deployment_id CHAR(32), 
	timestamp DATETIME NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	attributes JSON NOT NULL, 
	CONSTRAINT pk_events PRIMARY KEY (id), 
	CONSTRAINT fk_events_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE INDEX ix_events_deployment_id ON events (deployment_id);

CREATE INDEX ix_events_name_timestamp ON events (name, timestamp);

CREATE TABLE gate_results (
	id INTEGER NOT NULL, 
	deployment_id CHAR(32) NOT NULL, 
	gate VARCHAR(64) NOT NULL, 
	outcome VARCHAR(32), 
	reason TEXT, 
	figures JSON NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	CONSTRAINT pk_gate_results PRIMARY KEY (id), 
	CONSTRAINT fk_gate_results_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE INDEX ix_gate_results_deployment_id ON gate_results (deployment_id);

CREATE TABLE release_steps (
	release_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	deployment_id CHAR(32), 
	reason TEXT, 
	started_at DATETIME, 
	finished_at DATETIME, 
	CONSTRAINT pk_release_steps PRIMARY KEY (release_id, position), 
	CONSTRAINT ck_release_steps_release_step_status CHECK (status IN ('pending', 'deploying', 'succeeded', 'failed', 'aborted', 'interrupted')), 
	CONSTRAINT fk_release_steps_release_id_releases FOREIGN KEY(release_id) REFERENCES releases (id) ON DELETE CASCADE, 
	CONSTRAINT fk_release_steps_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE SET NULL
);

CREATE TABLE rotation_steps (
	id INTEGER NOT NULL, 
	rotation_id INTEGER NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	step VARCHAR(32) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	actor VARCHAR(255) NOT NULL, 
	version INTEGER, 
	fingerprint VARCHAR(32), 
	previous_fingerprint VARCHAR(32), 
	deployment_id VARCHAR(64), 
	detail TEXT, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	CONSTRAINT pk_rotation_steps PRIMARY KEY (id), 
	CONSTRAINT fk_rotation_steps_rotation_id_rotations FOREIGN KEY(rotation_id) REFERENCES rotations (id)
);

CREATE INDEX ix_rotation_steps_rotation_id ON rotation_steps (rotation_id);

CREATE TABLE step_results (
	id INTEGER NOT NULL, 
	deployment_id CHAR(32) NOT NULL, 
	step_index INTEGER NOT NULL, 
	weight INTEGER NOT NULL, 
	verdict VARCHAR(32) NOT NULL, 
	score FLOAT, 
	reason TEXT, 
	canary_error_rate FLOAT, 
	stable_error_rate FLOAT, 
	error_p_value FLOAT, 
	canary_latency_ms FLOAT, 
	stable_latency_ms FLOAT, 
	latency_ratio FLOAT, 
	canary_requests INTEGER, 
	canary_errors INTEGER, 
	stable_requests INTEGER, 
	stable_errors INTEGER, 
	error_verdict VARCHAR(32), 
	latency_verdict VARCHAR(32), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_step_results PRIMARY KEY (id), 
	CONSTRAINT fk_step_results_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE
);

CREATE INDEX ix_step_results_deployment_id ON step_results (deployment_id);

CREATE TABLE stored_files (
	id CHAR(32) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	url TEXT NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	created_at DATETIME NOT NULL, 
	deployment_id CHAR(32), 
	CONSTRAINT pk_stored_files PRIMARY KEY (id), 
	CONSTRAINT fk_stored_files_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE SET NULL
);

CREATE INDEX ix_stored_files_deployment_id ON stored_files (deployment_id);

CREATE INDEX ix_stored_files_kind_environment ON stored_files (kind, environment, created_at);

CREATE TABLE web_sessions (
	digest VARCHAR(64) NOT NULL, 
	user_name VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_web_sessions PRIMARY KEY (digest), 
	CONSTRAINT fk_web_sessions_user_name_users FOREIGN KEY(user_name) REFERENCES users (name) ON DELETE CASCADE
);

CREATE INDEX ix_web_sessions_user_name ON web_sessions (user_name);

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

INSERT INTO alembic_version (version_num) VALUES ('0016');
