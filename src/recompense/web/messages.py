"""The catalogue of the sentences Python code shows, keyed by name (English msgids).

A page's own words live in its template (``{% trans %}`` and ``_()``); what Python
builds — a criterion explained with the user's numbers, an upload refused, a status,
a role, an error — is named here once by a stable key, so routes, the API and the
templates (``t("status_" ~ v.status)``) say the same thing. ``MESSAGES[key]`` is the
English sentence, which is also the gettext msgid: its translations are in
``locale/<language>/LC_MESSAGES/messages.po`` (see ``docs/i18n.md``), never here.

Placeholders are ``%(name)s`` (Python's ``%`` formatting, as Jinja's i18n extension
uses); a literal percent sign is ``%%``. To add a sentence: add its key here, use it
with ``t("key", name=value)``, then ``make i18n`` and translate the new entry in each
``.po`` file (a test fails until every shipped language has it).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks ``message`` for extraction (``pybabel extract``); returns it unchanged."""
    return message


MESSAGES: dict[str, str] = {
    "nav_hub": N_("Rewards Hub"),
    "nav_ops": N_("Operations"),
    "signin_title": N_("Sign in"),
    "signin_text": N_(
        "Open the sign-in link the exchange sent you (it works once, for 5 minutes), or type its "
        "sign-in code."
    ),
    "signin_code": N_("Sign-in code"),
    "signin_continue": N_("Continue"),
    "signin_button": N_("Sign in"),
    "signin_confirm_text": N_(
        "This link signs you in as %(subject)s (%(role)s). Sign in only if you asked for it."
    ),
    "signin_code_invalid": N_(
        "This sign-in link has expired or has already been used. Ask for a new one."
    ),
    "signin_form_expired": N_("This sign-in form has expired. Open your sign-in link again."),
    "crit_no_liquidation": N_(
        "No forced liquidation of yours was counted in the window, so there is no loss to "
        "compensate."
    ),
    "crit_loss_ok": N_("Your loss of %(loss)s is at least the minimum of %(minimum)s."),
    "crit_loss_fail": N_("Your loss of %(loss)s is below the minimum of %(minimum)s."),
    "crit_ratio_ok": N_(
        "Your loss of %(loss)s is %(share)s of your net assets of %(net)s: at least %(minimum)s "
        "(it needed %(needed)s)."
    ),
    "crit_ratio_fail": N_(
        "Your loss of %(loss)s is %(share)s of your net assets of %(net)s: below %(minimum)s (it "
        "needed %(needed)s)."
    ),
    "crit_ratio_wiped": N_(
        "Your net assets at the snapshot were %(net)s (zero or less): the whole account was lost, "
        "so this criterion is met."
    ),
    "crit_comp_ok": N_("You were not already paid by an excluding programme (%(programs)s)."),
    "crit_comp_fail": N_("You were already compensated by an excluding programme (%(programs)s)."),
    "crit_comp_paid": N_(
        "You were compensated by %(program)s on %(date)s; this programme excludes users already "
        "compensated."
    ),
    "crit_comp_paid_undated": N_(
        "You were compensated by %(program)s; this programme excludes users already compensated."
    ),
    # The paying programme named as the ledger's programme list names it, beside its id.
    "crit_comp_paid_named": N_(
        "You were compensated by “%(name)s” (%(program)s) on %(date)s; this programme excludes "
        "users already compensated."
    ),
    "crit_comp_paid_named_undated": N_(
        "You were compensated by “%(name)s” (%(program)s); this programme excludes users "
        "already compensated."
    ),
    # Full-payment programmes (program.kind = "full", recompense.web.i18n_full): each counted
    # collateral liquidation event in one sentence, the sum, and why nothing is paid.
    "full_event_loss": N_(
        "Your %(asset)s collateral (%(product)s, account %(account)s) was sold at %(price)s at "
        "%(time)s; the reference price at %(reference_time)s was %(reference)s; %(quantity)s "
        "%(asset)s → %(amount)s"
    ),
    "full_event_no_loss": N_(
        "Your %(asset)s collateral (%(product)s, account %(account)s) was sold at %(price)s at "
        "%(time)s; the reference price at %(reference_time)s was %(reference)s; sold at or above "
        "it: %(amount)s"
    ),
    "full_sum_paid": N_("Your events sum to %(sum)s, paid in full."),
    "full_sum_ceiling": N_(
        "Your events sum to %(sum)s, above the programme's ceiling of %(ceiling)s per user: your "
        "payout is capped at the ceiling."
    ),
    "full_paid_in_all": N_(
        "Over every batch of this programme and your accepted claims, you are paid %(amount)s in "
        "all."
    ),
    "full_no_loss": N_(
        "Every counted event of yours was sold at or above its asset's reference price: the "
        "programme pays what a sale fell short of the reference price, and yours did not."
    ),
    "full_no_event": N_(
        "No liquidation of your %(assets)s collateral was counted between %(start)s and %(end)s "
        "(the end excluded; products: %(products)s), so this programme has no loss of yours to "
        "pay."
    ),
    "full_outside_window": N_(
        "Liquidations outside the window are reviewed individually: %(open_case)s."
    ),
    "full_open_case": N_("open a case"),
    "whatif_full_programme": N_(
        "The what-if simulator varies the rules of a programme that shares a budget; "
        "%(program)s pays each loss in full, so it has none to vary."
    ),
    "full_window": N_(
        "Collateral liquidations counted from %(start)s to %(end)s (the end excluded); each is "
        "paid against its asset's reference price at %(reference)s."
    ),
    "none": N_("none"),
    "bound_cap": N_(
        "Your share of the budget (%(share)s) reached the cap of %(cap)s, set by %(limit)s."
    ),
    "bound_floor": N_(
        "Your share of the budget (%(share)s) was below the minimum payout, so you receive the "
        "minimum of %(floor)s."
    ),
    "bound_share": N_(
        "Your share of the budget: λ × weight = %(lam)s × %(weight)s ≈ %(share)s, paid as "
        "%(amount)s after rounding to the cent."
    ),
    "cap_own_loss": N_("your own loss (nobody is paid more than they lost)"),
    "cap_maximum": N_("the programme's maximum payout"),
    "status_issued": N_("Ready to redeem"),
    "status_redeemed": N_("Redeemed"),
    "status_expired": N_("Expired"),
    "status_revoked": N_("Revoked"),
    "error_title": N_("Something is not right"),
    "error_401": N_("Please sign in again."),
    "error_403": N_("Your role does not give access to this page."),
    "error_404": N_("Not found."),
    "error_409": N_("This cannot be done now."),
    "error_other": N_("The request could not be completed."),
    "back_home": N_("Back to the start"),
    # Every error answer (recompense.web.problems): the status in words, then the detail
    "problem_title_400": N_("Bad request"),
    "problem_title_401": N_("Sign-in needed"),
    "problem_title_403": N_("Not allowed"),
    "problem_title_404": N_("Not found"),
    "problem_title_405": N_("Method not allowed"),
    "problem_title_409": N_("Conflict"),
    "problem_title_413": N_("Request too large"),
    "problem_title_422": N_("Cannot be used"),
    "problem_title_429": N_("Too many requests"),
    "problem_title_500": N_("Internal error"),
    "problem_title_503": N_("Temporarily unavailable"),
    "problem_title_other": N_("Error"),
    "problem_400": N_("The request could not be read."),
    "problem_signin": N_("Sign in first."),
    "problem_405": N_("This address does not take this kind of request."),
    "problem_413": N_("The request is too large."),
    "problem_413_limit": N_("The request is too large: at most %(limit)s are accepted."),
    "problem_429": N_("Too many requests: wait a moment, then try again."),
    "problem_500": N_(
        "Something went wrong on our side. It has been logged; if you contact support, quote the "
        "reference %(reference)s."
    ),
    "problem_503": N_("The service is briefly unavailable: try again in a moment."),
    "problem_csrf": N_(
        "The form has expired or its security token is missing: reload the page and try again."
    ),
    "problem_field": N_("%(field)s: %(problem)s"),
    "problem_more": N_("and %(count)s more"),
    "problem_body": N_("the request body"),
    "problem_missing": N_("is required"),
    "problem_too_long": N_("is longer than %(limit)s characters"),
    "problem_too_short": N_("needs at least %(limit)s characters"),
    "problem_too_many": N_("has more than %(limit)s items"),
    "problem_too_few": N_("needs at least %(limit)s items"),
    "problem_pattern": N_("is not in the expected form"),
    "problem_text": N_("must be text"),
    "problem_integer": N_("must be a whole number"),
    "problem_number": N_("must be a number"),
    "problem_at_least": N_("must be at least %(limit)s"),
    "problem_at_most": N_("must be at most %(limit)s"),
    "problem_above": N_("must be more than %(limit)s"),
    "problem_below": N_("must be less than %(limit)s"),
    "problem_choice": N_("must be one of %(limit)s"),
    "problem_bool": N_("must be true or false"),
    "problem_date": N_("must be a date (YYYY-MM-DD)"),
    "problem_json": N_("is not valid JSON"),
    "problem_object": N_("must be a JSON object"),
    "problem_list": N_("must be a list"),
    "problem_extra": N_("is not a field of this request"),
    "problem_other": N_("cannot be used"),
    # "Check with your own exports" (the self-check)
    "selfcheck_verdict_yes": N_(
        "Yes. By these exports, user %(uid)s is eligible for %(programme)s."
    ),
    "selfcheck_verdict_no": N_(
        "No. By these exports, user %(uid)s is not eligible for %(programme)s."
    ),
    "selfcheck_payout_amount": N_(
        "By the programme's formula, the payout for these exports is %(amount)s."
    ),
    "selfcheck_chart_title": N_("Cumulative liquidation loss by minute"),
    "selfcheck_chart_summary": N_(
        "%(total)s lost over %(minutes)s minute(s) with counted fills, from %(start)s to %(end)s."
    ),
    "selfcheck_no_fills": N_(
        "No forced-liquidation fill was counted in the window: there is no loss to draw."
    ),
    "upload_not_multipart": N_(
        "The files did not arrive as a file upload: please use the form on this page."
    ),
    "upload_malformed": N_("The upload is malformed or was cut short: please try again."),
    "upload_too_large": N_("The files are larger than %(total)s MiB together."),
    "upload_file_too_large": N_("%(name)s is larger than %(limit)s MiB."),
    "upload_too_many_files": N_("At most %(files)s files at a time."),
    "upload_too_many_fields": N_("The form has fields this page does not know."),
    "upload_field_too_large": N_("The field %(field)s is too long."),
    "upload_wrong_kind": N_("%(name)s: only %(kinds)s files are taken."),
    "upload_no_files": N_("Choose at least one export file."),
    "net_assets_invalid": N_(
        "Net assets “%(value)s”: write an amount in USD with digits and at most two decimals, "
        "without thousands separators (12500.00)."
    ),
    # Sign-off of runs and the audit trail (issue 16)
    "nav_approvals": N_("Sign-off of runs"),
    "nav_audit": N_("Audit trail"),
    # The header and each role's start page (recompense.web.navigation)
    "nav_label": N_("Main"),
    "nav_loans": N_("Loan fund"),
    "skip_to_content": N_("Skip to the content"),
    "title_user": N_("Rewards Hub"),
    "title_ops": N_("Operations"),
    "title_auditor": N_("Audit"),
    "title_account_manager": N_("Loan fund"),
    "title_credit_committee": N_("Credit committee"),
    "home_nothing": N_(
        "No page of this service is open to your role. Ask the service's operators for the access "
        "you need."
    ),
    "state_awaiting": N_("awaiting approval"),
    "state_approved": N_("approved, not distributed"),
    "state_distributed": N_("distributed"),
    "diff_against_distributed": N_("Compared with the distributed run %(fingerprint)s (%(path)s)."),
    "diff_against_approved": N_("Compared with the last approved run %(fingerprint)s (%(path)s)."),
    "kind_added": N_("added"),
    "kind_removed": N_("removed"),
    "kind_changed": N_("changed"),
    # Who is signed in, and the roles by name (the header, records, refusals)
    "who_user": N_("User %(id)s"),
    "who_staff": N_("%(name)s (%(role)s)"),
    "role_user": N_("User"),
    "role_ops": N_("Operations"),
    "role_account_manager": N_("Account manager"),
    "role_credit_committee": N_("Credit committee"),
    "role_auditor": N_("Auditor"),
    "role_phrase_user": N_("A user"),
    "role_phrase_ops": N_("An operations officer"),
    "role_phrase_account_manager": N_("An account manager"),
    "role_phrase_credit_committee": N_("A credit committee member"),
    "role_phrase_auditor": N_("An auditor"),
    # Stored codes by name: t.label(group, code) (the dashboard, a user's audit trail)
    "promise_kept": N_("kept"),
    "promise_missed": N_("missed"),
    "promise_open": N_("open"),
    "voucher_issued": N_("Issued"),
    "voucher_redeemed": N_("Redeemed"),
    "voucher_expired": N_("Expired"),
    "voucher_revoked": N_("Revoked"),
    "notice_sent": N_("Sent"),
    "notice_retrying": N_("Retrying"),
    "notice_pending": N_("Pending"),
    "notice_sending": N_("Sending"),
    "notice_failed": N_("Failed"),
    "channel_email": N_("Email"),
    "channel_push": N_("App notification"),
    "entry_fund": N_("Funding"),
    "entry_issue": N_("Issued"),
    "entry_redeem": N_("Redeemed"),
    "entry_expire": N_("Expired"),
    "entry_revoke": N_("Revoked"),
    "entry_reversal": N_("Reversal"),
    "access_user_page": N_("User page"),
    "access_vouchers": N_("Vouchers"),
    "access_voucher": N_("Voucher"),
    "access_eligibility": N_("Eligibility (API)"),
    "access_eligibility_page": N_("Eligibility page"),
    "access_proof": N_("Proof"),
    "access_audit_trail": N_("Audit trail"),
    "access_show": N_("Read the file"),
    "access_list": N_("Listed"),
    # The loan fund (the console, its records and refusals)
    "loan_state_draft": N_("draft"),
    "loan_state_submitted": N_("submitted"),
    "loan_state_approved": N_("approved"),
    "loan_state_rejected": N_("rejected"),
    "loan_state_withdrawn": N_("withdrawn"),
    "loan_state_active": N_("active"),
    "loan_state_repaid": N_("repaid"),
    "loan_state_written_off": N_("written off"),
    "decision_open": N_("open"),
    "decision_due_soon": N_("due soon"),
    "decision_met": N_("met"),
    "decision_missed": N_("missed"),
    "decision_closed_undecided": N_("closed undecided"),
    "decision_not_submitted": N_("not submitted"),
    "repayment_bullet": N_("bullet (all at maturity)"),
    "repayment_instalments": N_("instalments"),
    "loan_action_submit": N_("Submit"),
    "loan_action_approve": N_("Approve"),
    "loan_action_reject": N_("Reject"),
    "loan_action_withdraw": N_("Withdraw"),
    "loan_action_undo_approval": N_("Undo the approval"),
    "loan_action_disburse": N_("Disburse"),
    "loan_action_write_off": N_("Write off"),
    "loan_event_create": N_("Created"),
    "loan_event_submit": N_("Submitted"),
    "loan_event_approve": N_("Approved"),
    "loan_event_reject": N_("Rejected"),
    "loan_event_withdraw": N_("Withdrawn"),
    "loan_event_undo_approval": N_("Approval undone"),
    "loan_event_disburse": N_("Disbursed"),
    "loan_event_repay": N_("Repayment"),
    "loan_event_write_off": N_("Written off"),
    "loan_verb_submit": N_("submit"),
    "loan_verb_approve": N_("approve"),
    "loan_verb_reject": N_("reject"),
    "loan_verb_withdraw": N_("withdraw"),
    "loan_verb_undo_approval": N_("undo the approval of"),
    "loan_verb_disburse": N_("disburse"),
    "loan_verb_repay": N_("record repayments of"),
    "loan_verb_write_off": N_("write off"),
    "refused_role_cannot": N_("%(role)s cannot %(action)s loans."),
    "refused_not_the_manager": N_("Only the borrower's assigned account manager may do this."),
    "refused_tier_cannot_borrow": N_("User %(user)s cannot borrow from this fund."),
    "refused_submitter_cannot_decide": N_(
        "Maker-checker: whoever submitted an application, or manages its borrower, cannot decide "
        "on it."
    ),
    "refused_already_approved": N_(
        "You already approved this application: a second committee member must approve it."
    ),
    "refused_wrong_state": N_(
        "This application is %(state)s; to %(action)s an application, it must be %(states)s."
    ),
    "refused_changed_meanwhile": N_("This application changed meanwhile: please try again."),
    "refused_fund_full": N_(
        "Approving %(amount)s would commit %(committed)s, above the fund's cap of %(cap)s "
        "(%(left)s left)."
    ),
    "refused_borrower_limit": N_(
        "Approving it would give user %(user)s %(total)s of loans, above the per-borrower limit of "
        "%(limit)s."
    ),
    "refused_amount_below_minimum": N_("Amount %(amount)s: below the minimum of %(minimum)s."),
    "refused_amount_above_limit": N_(
        "Amount %(amount)s: above the per-borrower limit of %(limit)s."
    ),
    "refused_term_range": N_(
        "A term of %(days)s days: it must be between %(min)s and %(max)s days."
    ),
    "refused_term_multiple": N_(
        "A term of %(days)s days: with instalments the term must be a multiple of %(period)s days."
    ),
    "refused_repayment_type": N_("The repayment must be %(repayments)s."),
    "refused_repayment_not_positive": N_("Amount %(amount)s: a repayment must be positive."),
    "refused_repayment_too_much": N_(
        "Amount %(amount)s: more than the %(owed)s owed on %(on)s (fees, interest and principal)."
    ),
    "refused_reference_required": N_(
        "The payment's reference, 1 to 150 characters, is required: it prevents recording a "
        "payment twice."
    ),
    "refused_reason_required": N_(
        "A reason is required to read a loan application (it is recorded)."
    ),
    # The what-if form's refusals (the simulator's own words stay in English)
    "whatif_field_min_loss_usd": N_("Minimum loss (USD)"),
    "whatif_field_min_ratio": N_("Minimum loss / net assets"),
    "whatif_field_min_payout_usd": N_("Minimum payout (USD)"),
    "whatif_field_max_payout_usd": N_("Maximum payout (USD)"),
    "whatif_field_cap_at_loss": N_("Cap at the user's loss"),
    "whatif_field_budget_usd": N_("Budget (USD)"),
    "whatif_field_weight": N_("Weight formula"),
    "whatif_refused": N_("%(field)s: %(problem)s"),
    # The web pages' charts (recompense.web.charts)
    "chart_closures_title": N_("Redemptions and clawbacks over time"),
    "chart_closures_none": N_("No voucher has been redeemed, expired or revoked yet."),
    "chart_closures_redeemed": N_("redeemed"),
    "chart_closures_clawed": N_("clawed back"),
    "chart_closures_tip": N_("%(when)s: %(count)s %(what)s (%(amount)s)"),
    "chart_closures_summary": N_(
        "%(redeemed)s vouchers redeemed and %(clawed)s clawed back over %(periods)s periods"
    ),
    "chart_whatif_histogram_title": N_("What-if payout histogram"),
    "chart_whatif_nobody": N_("Nobody is paid under these rules."),
    "chart_published": N_("published"),
    "chart_whatif": N_("what-if"),
    "chart_whatif_tip": N_("%(span)s: %(count)s users (%(what)s)"),
    "chart_whatif_histogram_summary": N_(
        "%(whatif)s payouts in the what-if, %(published)s published"
    ),
    "chart_whatif_lorenz_title": N_("What-if Lorenz curve"),
    "chart_whatif_gini": N_("what-if Gini %(gini)s"),
    "chart_published_gini": N_("published Gini %(gini)s (dashed)"),
    "chart_whatif_lorenz_summary": N_(
        "Gini %(gini)s in the what-if against %(published)s published"
    ),
    "chart_payout_usd": N_("Payout (USD)"),
    # The eligibility funnel's stages, as runs/execute.py names them in the manifest (t.stage)
    "stage_liquidated": N_("Liquidated in the window"),
    "stage_loss": N_("Loss ≥ minimum"),
    "stage_ratio": N_("Loss ≥ minimum share of net assets"),
    "stage_not_compensated": N_("Not already compensated"),
    "stage_eligible": N_("Eligible"),
    # Users' cases (routes/cases.py, cases_ops.py); refusals: refused_cases_<code>
    "case_not_configured": N_("Cases are not available on this server yet."),
    "case_amount_invalid": N_(
        "%(field)s: not an amount in US dollars with at most two decimals, such as 1250.50."
    ),
    "case_moment_invalid": N_("The time is not a date and time such as 2025-10-10T21:15 (UTC)."),
    "case_no_file": N_("Choose a file to attach."),
    "case_assignee_missing": N_("Name the officer to assign the case to."),
    "case_done_opened": N_(
        "Your case is open. We will review it and write to you when its status changes."
    ),
    "case_done_responded": N_("Your answer is sent."),
    "case_done_withdrawn": N_("The case is withdrawn."),
    "case_done_uploaded": N_("The file is attached."),
    "case_ops_done_assigned": N_("The assignment is recorded."),
    "case_ops_done_noted": N_("The note is recorded."),
    "case_ops_done_info_requested": N_("The request is sent to the user."),
    "case_ops_done_accepted": N_("Accepted: the decision is final."),
    "case_ops_done_proposed": N_("Proposed: a second officer must approve it (four eyes)."),
    "case_ops_done_approved": N_("Approved: the case is accepted."),
    "case_ops_done_returned": N_("The proposal is sent back."),
    "case_ops_done_rejected": N_("Rejected: the user sees the reason in their language."),
    "case_action_open": N_("Opened"),
    "case_action_respond": N_("Answered"),
    "case_action_withdraw": N_("Withdrawn"),
    "case_action_assign": N_("Assigned"),
    "case_action_note": N_("Internal note"),
    "case_action_request_info": N_("More information requested"),
    "case_action_accept": N_("Accepted"),
    "case_action_propose": N_("Acceptance proposed"),
    "case_action_approve": N_("Acceptance approved"),
    "case_action_return": N_("Proposal sent back"),
    "case_action_reject": N_("Not accepted"),
    "case_action_evidence": N_("File attached"),
    "case_action_view": N_("Viewed by staff"),
    "case_action_read_evidence": N_("File opened by staff"),
    "refused_cases_text_length": N_(
        "The text must have between %(least)s and %(most)s characters."
    ),
    "refused_cases_text_control": N_(
        "The text holds control characters: remove them and try again."
    ),
    "refused_cases_role_cannot": N_("Your role cannot do this on cases."),
    "refused_cases_wrong_state": N_(
        "The case's status no longer allows this: look at the case again."
    ),
    "refused_cases_changed_meanwhile": N_(
        "This case changed meanwhile: look at it again and retry."
    ),
    "refused_cases_proposer_cannot_approve": N_(
        "You proposed this decision: a different officer must approve it (four eyes)."
    ),
    "refused_cases_no_proposal": N_("This case has no proposal awaiting approval."),
    "refused_cases_bad_category": N_("Choose one of the categories offered."),
    "refused_cases_bad_state": N_("Choose one of the states offered."),
    "refused_cases_bad_hours": N_("The number of hours is out of range."),
    "refused_cases_bad_reason_code": N_("Choose one of the reason codes offered."),
    "refused_cases_assign_not_ops": N_("Cases are assigned to operations officers only."),
    "refused_cases_bad_actor": N_(
        "The officer's name cannot be used: 1 to 100 printable characters."
    ),
    "refused_cases_not_a_user": N_("Only the case's user can do this."),
    "refused_cases_claim_on_appeal": N_(
        "This case is an appeal: decide it with a correction of the user's inputs."
    ),
    "refused_cases_correction_on_claim": N_("This case is a claim: decide it with a claim amount."),
    "refused_cases_bad_decision": N_("The decision is not a correction or a claim."),
    "refused_cases_empty_correction": N_(
        "A correction changes at least one of: loss, net assets, loss in the incident, not "
        "compensated."
    ),
    "refused_cases_incident_above_loss": N_("The loss in the incident cannot be above the loss."),
    "refused_cases_amount_required": N_("An amount above zero is needed."),
    "refused_cases_amount_type": N_("The amount must be a whole number of cents."),
    "refused_cases_amount_range": N_("The amount is out of range."),
    "refused_cases_occurred_on_appeal": N_(
        "Only claims take a time: leave the time empty for an appeal."
    ),
    "refused_cases_occurred_required": N_(
        "A claim needs the time of the delayed transfer or redemption."
    ),
    "refused_cases_occurred_naive": N_("Give the time in UTC."),
    "refused_cases_occurred_outside_window": N_(
        "That time is outside the programme's incident window."
    ),
    "refused_cases_bad_email": N_("That is not an e-mail address."),
    "refused_cases_no_programme": N_(
        "This programme has not been distributed: cases are opened against a distributed programme."
    ),
    "refused_cases_evidence_empty": N_("The file is empty."),
    "refused_cases_evidence_too_large": N_(
        "The file is larger than 5 MiB, the most a file may be."
    ),
    "refused_cases_evidence_too_many": N_("This case already has the most files a case takes."),
    "refused_cases_evidence_type": N_(
        "Not an accepted file type: PDF, PNG, JPEG, XLSX, CSV, TXT or JSON (read from the file's "
        "content, not its name)."
    ),
}
