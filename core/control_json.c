/*
 * control_json: the message object of the control protocol, shared by
 * the daemon (control.c) and the CLI reading the spool directly.
 */
#include <stddef.h>

#include "control.h"
#include "envelope.h"
#include "json.h"

/*
 * One word for the whole message, the most urgent first: held beats
 * everything, then a deferral (something failed), then pending work.
 */
const char *
control_envelope_state(const struct envelope *env)
{
	size_t i;
	int deferred = 0, pending = 0, bounced = 0;

	if (env->held)
		return "held";
	for (i = 0; i < env->nrcpt; i++) {
		switch (env->rcpts[i].state) {
		case RCPT_DEFERRED:
			deferred = 1;
			break;
		case RCPT_PENDING:
			pending = 1;
			break;
		case RCPT_BOUNCED:
			bounced = 1;
			break;
		case RCPT_DELIVERED:
			break;
		}
	}
	if (deferred)
		return "deferred";
	if (pending)
		return "pending";
	if (bounced)
		return "bounced";
	return "delivered";
}

static void
kv_opt(struct json_writer *w, const char *key, const char *val)
{
	if (val && *val)
		json_kv_str(w, key, val);
}

void
control_json_envelope(struct json_writer *w, const struct envelope *env,
    int with_history)
{
	size_t i, j;

	json_obj_begin(w);
	json_kv_str(w, "qid", env->id);
	json_kv_str(w, "sender", env->sender ? env->sender : "");
	json_kv_int(w, "arrival", env->arrival);
	json_kv_int(w, "size", env->size);
	json_kv_bool(w, "held", env->held);
	json_kv_str(w, "state", control_envelope_state(env));
	if (env->dsn_wait_rate != NULL) {
		json_kv_str(w, "dsn_wait_rate", env->dsn_wait_rate);
		json_kv_int(w, "dsn_wait_until", env->dsn_wait_until);
	}
	if (with_history) {
		kv_opt(w, "client", env->client);
		kv_opt(w, "helo", env->helo);
		kv_opt(w, "auth_user", env->auth_user);
		kv_opt(w, "tls", env->tls);
		if (env->origin_uid >= 0)
			json_kv_int(w, "origin_uid", env->origin_uid);
	}
	json_key(w, "recipients");
	json_arr_begin(w);
	for (i = 0; i < env->nrcpt; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		json_obj_begin(w);
		json_kv_str(w, "addr", r->addr);
		json_kv_str(w, "state", envelope_state_name(r->state));
		json_kv_int(w, "attempts", r->attempts);
		json_kv_int(w, "next_try", r->next_try);
		kv_opt(w, "last_error", r->last_error);
		kv_opt(w, "relay", r->relay);
		kv_opt(w, "dsn_status", r->dsn_status);
		if (with_history) {
			json_key(w, "history");
			json_arr_begin(w);
			for (j = 0; j < r->nhistory; j++) {
				json_obj_begin(w);
				json_kv_int(w, "time", r->history[j].when);
				json_kv_str(w, "text", r->history[j].text);
				json_obj_end(w);
			}
			json_arr_end(w);
		}
		json_obj_end(w);
	}
	json_arr_end(w);
	json_obj_end(w);
}
