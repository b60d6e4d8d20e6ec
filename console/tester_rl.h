/*
 * tester_rl: the readline completion both faces of the SMTP tester share
 * (`hikyaku smtp` on a terminal and the console's Tester screen): SMTP
 * verbs at the start of a line, plus the face's own slash commands.
 */
#ifndef HIKYAKU_TESTER_RL_H
#define HIKYAKU_TESTER_RL_H

/* Install the completion; local is a NULL-terminated list ("/send", ...). */
void	 tester_rl_completion(const char *const *local);

#endif
