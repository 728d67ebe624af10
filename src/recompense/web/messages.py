"""The pages' words in English and Spanish (Python format strings, keyed by name)."""

from __future__ import annotations

EN: dict[str, str] = {
    "app_title": "Rewards Hub",
    "nav_hub": "Rewards Hub",
    "nav_ops": "Operations",
    "nav_signout": "Sign out",
    "signed_in_as": "Signed in as {subject} ({role})",
    "signin_title": "Sign in",
    "signin_text": "Open the sign-in link the exchange sent you, or paste your access token.",
    "signin_token": "Access token",
    "signin_button": "Sign in",
    "hub_title": "Your rewards",
    "hub_intro": "Your result in each compensation programme, your vouchers, and what was "
    "credited to your reward wallet.",
    "no_programmes": "No programme has been distributed yet.",
    "eligible_yes": "You are eligible",
    "eligible_no": "You are not eligible",
    "see_explanation": "Am I eligible? See why",
    "verify_link": "Verify my payout",
    "elig_title": "Am I eligible?",
    "elig_verdict_yes": "Yes. You are eligible, and your payout is {amount}.",
    "elig_verdict_no": "No. You are not eligible for this programme.",
    "numbers_heading": "Your numbers",
    "loss_in_window": "Liquidation loss in the window",
    "net_assets": "Net assets at the snapshot",
    "loss_share": "Loss as a share of net assets",
    "fills": "Forced-liquidation fills counted",
    "not_applicable": "not applicable",
    "window_text": "Losses counted from {start} to {end}; net assets taken at {snapshot}.",
    "criteria_heading": "Each criterion",
    "passed": "passed",
    "failed": "failed",
    "amount_heading": "Why this amount",
    "crit_no_liquidation": "No forced liquidation of yours was counted in the window, so "
    "there is no loss to compensate.",
    "crit_loss_ok": "Your loss of {loss} is at least the minimum of {minimum}.",
    "crit_loss_fail": "Your loss of {loss} is below the minimum of {minimum}.",
    "crit_ratio_ok": "Your loss of {loss} is {share} of your net assets of {net}: at least "
    "{minimum} (it needed {needed}).",
    "crit_ratio_fail": "Your loss of {loss} is {share} of your net assets of {net}: below "
    "{minimum} (it needed {needed}).",
    "crit_ratio_wiped": "Your net assets at the snapshot were {net} (zero or less): the whole "
    "account was lost, so this criterion is met.",
    "crit_comp_ok": "You were not already paid by an excluding programme ({programs}).",
    "crit_comp_fail": "You were already compensated by an excluding programme ({programs}).",
    "none": "none",
    "bound_cap": "Your share of the budget ({share}) reached the cap of {cap}, set by {limit}.",
    "bound_floor": "Your share of the budget ({share}) was below the minimum payout, so you "
    "receive the minimum of {floor}.",
    "bound_share": "Your share of the budget: λ × weight = {lam} × {weight} ≈ {share}, paid "
    "as {amount} after rounding to the cent.",
    "cap_own_loss": "your own loss (nobody is paid more than they lost)",
    "cap_maximum": "the programme's maximum payout",
    "vouchers_title": "Your vouchers",
    "col_programme": "Programme",
    "col_amount": "Amount",
    "col_status": "Status",
    "col_expires": "Expires",
    "col_when": "When",
    "col_voucher": "Voucher",
    "col_action": "",
    "status_issued": "Ready to redeem",
    "status_redeemed": "Redeemed",
    "status_expired": "Expired",
    "status_revoked": "Revoked",
    "redeem_button": "Redeem",
    "expires_in": "in {days} d {hours} h",
    "expired_already": "expired",
    "no_vouchers": "You have no vouchers.",
    "redeemed_flash": "Credited: {amount} to your reward wallet.",
    "already_flash": "Already redeemed: {amount} was credited on {when}.",
    "redeem_failed": "This voucher can no longer be redeemed: {reason}",
    "credits_title": "Credited to your reward wallet",
    "no_credits": "Nothing has been credited yet.",
    "verify_title": "Verify my payout",
    "verify_intro": "The exchange published one commitment to the whole payout list. Your "
    "proof shows that your payout is in that list, with exactly your amount, and that the "
    "list adds up to the published total. This page checks it in your browser.",
    "verify_download": "Download my proof (JSON)",
    "verify_commitment": "Download the published commitment (JSON)",
    "verify_button": "Verify in this page",
    "verify_running": "Verifying…",
    "verify_ok": "Verified: your payout is in the published list, and the list adds up to "
    "the published total.",
    "verify_fail": "Not verified",
    "verify_unavailable": "No proof is available: {reason}",
    "verify_offline": "You can also verify it offline: recompense verify --commitment "
    "commitment.json --proof proof.json",
    "error_title": "Something is not right",
    "error_401": "Please sign in again.",
    "error_403": "Your role does not give access to this page.",
    "error_404": "Not found.",
    "error_409": "This cannot be done now.",
    "error_other": "The request could not be completed.",
    "back_home": "Back to the start",
    # "Check with your own exports" (the self-check)
    "selfcheck_link": "Check with your own exports",
    "selfcheck_link_text": "Upload the futures exports you downloaded from Binance and see "
    "what the programme's rules say about them, with every number.",
    "selfcheck_title": "Check with your own exports",
    "selfcheck_intro": "Upload the futures exports you downloaded from Binance (the CSV "
    "files of the website, or the REST API's JSON). This page applies the rules of {programme} "
    "to them: the forced-liquidation fills that count, your loss, your net assets and each "
    "rule, with the numbers.",
    "selfcheck_privacy": "Your files are read in memory to answer this request only: they "
    "are not stored and their content is not logged. The page checks the files it is given, "
    "whoever they belong to; the result is shown to you only and changes nothing in any "
    "payout.",
    "selfcheck_limits": "Up to {files} files at a time, each at most {file_mib} MiB and "
    "{total_mib} MiB together; .csv and .json files only.",
    "selfcheck_files": "Your export files",
    "selfcheck_files_help": "Transaction, Trade, Order and Position History of USDⓈ-M and "
    "COIN-M futures, or the account statement, of one account. Select several files at once.",
    "selfcheck_net_assets": "Your net assets at the snapshot, in USD (optional)",
    "selfcheck_net_assets_help": "Needed when your Transaction History does not start with "
    "the account's first transfer in: the exports then cannot be summed up to the snapshot "
    "({snapshot}). Digits, with at most two decimals: 12500.00",
    "selfcheck_prices_stable": "USDT and USDC count at 1 USD.",
    "selfcheck_prices_klines": "{assets}: from 1-minute klines configured on this server.",
    "selfcheck_prices_files": "Other prices from the price files {files}.",
    "selfcheck_prices_none": "No other asset has prices here: positions margined in another "
    "asset (BTC in COIN-M futures, for example) cannot be checked on this server.",
    "selfcheck_button": "Check my exports",
    "selfcheck_unavailable": "This check is not offered on this server.",
    "selfcheck_result": "What the rules say about these exports",
    "selfcheck_other_uid": "These exports are user {uid}'s, not yours (you are user {me}). "
    "The result below is about the files you gave.",
    "selfcheck_verdict_yes": "Yes. By these exports, user {uid} is eligible for {programme}.",
    "selfcheck_verdict_no": "No. By these exports, user {uid} is not eligible for {programme}.",
    "selfcheck_net_source": "Where the net assets come from",
    "selfcheck_importer_words": "",
    "selfcheck_payout_heading": "The payout at the published run's λ",
    "selfcheck_payout_amount": "By the programme's formula, the payout for these exports is "
    "{amount}.",
    "selfcheck_in_run_match": "User {uid} is in the published run, and it agrees with these "
    "exports: it pays {paid}.",
    "selfcheck_in_run_differ": "User {uid} is in the published run, but it does not agree "
    "with these exports: there the loss is {loss}, the net assets {net}, and it pays {paid}.",
    "selfcheck_nothing": "nothing",
    "selfcheck_not_in_run": "User {uid} is not in the published run.",
    "selfcheck_no_run": "No published run is configured here, so no payout is computed.",
    "selfcheck_notes": "Notes",
    "selfcheck_warnings": "Warnings from reading the exports",
    "selfcheck_warnings_hint": "Where a warning mentions --net-assets-usd, that is the net "
    "assets field of the form above.",
    "selfcheck_fills_heading": "Counted forced-liquidation fills",
    "selfcheck_fills_showing": "Showing the first {shown} of {total} fills.",
    "selfcheck_fills_all": "{total} fills.",
    "selfcheck_col_time": "Time (UTC)",
    "selfcheck_col_symbol": "Symbol",
    "selfcheck_col_pnl": "Realized PnL",
    "selfcheck_col_fee": "Clearance fee",
    "selfcheck_col_price": "USD price",
    "selfcheck_col_loss": "Loss (USD)",
    "selfcheck_col_source": "File:line",
    "selfcheck_fills_note": "Each fill's loss is (clearance fee − realized PnL) × USD price, "
    "shown here to the cent; the total adds the exact amounts and rounds once.",
    "selfcheck_chart_heading": "Loss over time",
    "selfcheck_chart_title": "Cumulative liquidation loss by minute",
    "selfcheck_chart_summary": "{total} lost over {minutes} minute(s) with counted fills, "
    "from {start} to {end}.",
    "selfcheck_chart_numbers": "The chart's numbers",
    "selfcheck_col_minute": "Minute (UTC)",
    "selfcheck_col_cumulative": "Loss so far",
    "selfcheck_no_fills": "No forced-liquidation fill was counted in the window: there is "
    "no loss to draw.",
    "selfcheck_refused": "These files could not be checked.",
    "selfcheck_refused_hint": "The importer's message names the file, line and column. Where "
    "it mentions --net-assets-usd, type your net assets in the form; where it names several "
    "uids or --user-id, upload one account's exports only.",
    "selfcheck_failed": "The check failed on our side. Please try again later; nothing was kept.",
    "upload_not_multipart": "The files did not arrive as a file upload: please use the form "
    "on this page.",
    "upload_malformed": "The upload is malformed or was cut short: please try again.",
    "upload_too_large": "The files are larger than {total} MiB together.",
    "upload_file_too_large": "{name} is larger than {limit} MiB.",
    "upload_too_many_files": "At most {files} files at a time.",
    "upload_too_many_fields": "The form has fields this page does not know.",
    "upload_field_too_large": "The field {field} is too long.",
    "upload_wrong_kind": "{name}: only {kinds} files are taken.",
    "upload_no_files": "Choose at least one export file.",
    "net_assets_invalid": "Net assets “{value}”: write an amount in USD with digits and at "
    "most two decimals, without thousands separators (12500.00).",
}

ES: dict[str, str] = {
    "app_title": "Centro de recompensas",
    "nav_hub": "Centro de recompensas",
    "nav_ops": "Operaciones",
    "nav_signout": "Cerrar sesión",
    "signed_in_as": "Sesión iniciada como {subject} ({role})",
    "signin_title": "Iniciar sesión",
    "signin_text": "Abra el enlace de acceso que le envió el exchange o pegue su token de acceso.",
    "signin_token": "Token de acceso",
    "signin_button": "Entrar",
    "hub_title": "Sus recompensas",
    "hub_intro": "Su resultado en cada programa de compensación, sus vales y lo que se "
    "abonó en su billetera de recompensas.",
    "no_programmes": "Todavía no se ha distribuido ningún programa.",
    "eligible_yes": "Usted es elegible",
    "eligible_no": "Usted no es elegible",
    "see_explanation": "¿Soy elegible? Vea por qué",
    "verify_link": "Verificar mi pago",
    "elig_title": "¿Soy elegible?",
    "elig_verdict_yes": "Sí. Usted es elegible y su pago es de {amount}.",
    "elig_verdict_no": "No. Usted no es elegible para este programa.",
    "numbers_heading": "Sus cifras",
    "loss_in_window": "Pérdida por liquidación en el periodo",
    "net_assets": "Activos netos en la instantánea",
    "loss_share": "Pérdida como porcentaje de los activos netos",
    "fills": "Ejecuciones de liquidación forzosa contadas",
    "not_applicable": "no aplica",
    "window_text": "Pérdidas contadas desde {start} hasta {end}; activos netos tomados el "
    "{snapshot}.",
    "criteria_heading": "Cada criterio",
    "passed": "cumplido",
    "failed": "no cumplido",
    "amount_heading": "Por qué este importe",
    "crit_no_liquidation": "No se contó ninguna liquidación forzosa suya en el periodo, así "
    "que no hay pérdida que compensar.",
    "crit_loss_ok": "Su pérdida de {loss} alcanza el mínimo de {minimum}.",
    "crit_loss_fail": "Su pérdida de {loss} está por debajo del mínimo de {minimum}.",
    "crit_ratio_ok": "Su pérdida de {loss} es el {share} de sus activos netos de {net}: al "
    "menos el {minimum} (se necesitaban {needed}).",
    "crit_ratio_fail": "Su pérdida de {loss} es el {share} de sus activos netos de {net}: "
    "menos del {minimum} (se necesitaban {needed}).",
    "crit_ratio_wiped": "Sus activos netos en la instantánea eran {net} (cero o menos): se "
    "perdió toda la cuenta, así que este criterio se cumple.",
    "crit_comp_ok": "No recibió ya un pago de un programa excluyente ({programs}).",
    "crit_comp_fail": "Ya fue compensado por un programa excluyente ({programs}).",
    "none": "ninguno",
    "bound_cap": "Su parte del presupuesto ({share}) alcanzó el tope de {cap}, fijado por {limit}.",
    "bound_floor": "Su parte del presupuesto ({share}) quedó por debajo del pago mínimo, así "
    "que recibe el mínimo de {floor}.",
    "bound_share": "Su parte del presupuesto: λ × peso = {lam} × {weight} ≈ {share}, pagada "
    "como {amount} tras redondear al céntimo.",
    "cap_own_loss": "su propia pérdida (nadie cobra más de lo que perdió)",
    "cap_maximum": "el pago máximo del programa",
    "vouchers_title": "Sus vales",
    "col_programme": "Programa",
    "col_amount": "Importe",
    "col_status": "Estado",
    "col_expires": "Vence",
    "col_when": "Fecha",
    "col_voucher": "Vale",
    "col_action": "",
    "status_issued": "Listo para canjear",
    "status_redeemed": "Canjeado",
    "status_expired": "Vencido",
    "status_revoked": "Revocado",
    "redeem_button": "Canjear",
    "expires_in": "en {days} d {hours} h",
    "expired_already": "vencido",
    "no_vouchers": "No tiene vales.",
    "redeemed_flash": "Abonado: {amount} en su billetera de recompensas.",
    "already_flash": "Ya canjeado: {amount} se abonó el {when}.",
    "redeem_failed": "Este vale ya no se puede canjear: {reason}",
    "credits_title": "Abonado en su billetera de recompensas",
    "no_credits": "Todavía no se ha abonado nada.",
    "verify_title": "Verificar mi pago",
    "verify_intro": "El exchange publicó un compromiso sobre toda la lista de pagos. Su "
    "prueba muestra que su pago está en esa lista, con su importe exacto, y que la lista "
    "suma el total publicado. Esta página lo comprueba en su navegador.",
    "verify_download": "Descargar mi prueba (JSON)",
    "verify_commitment": "Descargar el compromiso publicado (JSON)",
    "verify_button": "Verificar en esta página",
    "verify_running": "Verificando…",
    "verify_ok": "Verificado: su pago está en la lista publicada y la lista suma el total "
    "publicado.",
    "verify_fail": "No verificado",
    "verify_unavailable": "No hay prueba disponible: {reason}",
    "verify_offline": "También puede verificarla sin conexión: recompense verify "
    "--commitment commitment.json --proof proof.json",
    "error_title": "Algo no está bien",
    "error_401": "Vuelva a iniciar sesión.",
    "error_403": "Su rol no da acceso a esta página.",
    "error_404": "No encontrado.",
    "error_409": "Esto no se puede hacer ahora.",
    "error_other": "No se pudo completar la solicitud.",
    "back_home": "Volver al inicio",
    # "Comprobar con sus propias exportaciones" (la autocomprobación)
    "selfcheck_link": "Comprobar con sus propias exportaciones",
    "selfcheck_link_text": "Suba las exportaciones de futuros que descargó de Binance y vea "
    "qué dicen de ellas las reglas del programa, con todas las cifras.",
    "selfcheck_title": "Comprobar con sus propias exportaciones",
    "selfcheck_intro": "Suba las exportaciones de futuros que descargó de Binance (los CSV "
    "del sitio web o el JSON de la API REST). Esta página les aplica las reglas de "
    "{programme}: las ejecuciones de liquidación forzosa que cuentan, su pérdida, sus activos "
    "netos y cada regla, con las cifras.",
    "selfcheck_privacy": "Sus archivos se leen en memoria solo para responder a esta "
    "solicitud: no se guardan y su contenido no se registra. La página comprueba los archivos "
    "que recibe, sean de quien sean; el resultado solo se le muestra a usted y no cambia "
    "ningún pago.",
    "selfcheck_limits": "Hasta {files} archivos a la vez, cada uno de {file_mib} MiB como "
    "máximo y {total_mib} MiB en total; solo archivos .csv y .json.",
    "selfcheck_files": "Sus archivos exportados",
    "selfcheck_files_help": "Historial de transacciones, operaciones, órdenes y posiciones de "
    "futuros USDⓈ-M y COIN-M, o el extracto de cuenta, de una sola cuenta. Seleccione varios "
    "archivos a la vez.",
    "selfcheck_net_assets": "Sus activos netos en la instantánea, en USD (opcional)",
    "selfcheck_net_assets_help": "Necesario cuando su historial de transacciones no empieza "
    "con la primera transferencia a la cuenta: entonces las exportaciones no se pueden sumar "
    "hasta la instantánea ({snapshot}). Cifras, con dos decimales como máximo: 12500,00",
    "selfcheck_prices_stable": "USDT y USDC cuentan a 1 USD.",
    "selfcheck_prices_klines": "{assets}: de velas de 1 minuto configuradas en este servidor.",
    "selfcheck_prices_files": "Otros precios de los archivos de precios {files}.",
    "selfcheck_prices_none": "Ningún otro activo tiene precios aquí: las posiciones con "
    "margen en otro activo (BTC en futuros COIN-M, por ejemplo) no se pueden comprobar en "
    "este servidor.",
    "selfcheck_button": "Comprobar mis exportaciones",
    "selfcheck_unavailable": "Esta comprobación no se ofrece en este servidor.",
    "selfcheck_result": "Qué dicen las reglas de estas exportaciones",
    "selfcheck_other_uid": "Estas exportaciones son del usuario {uid}, no suyas (usted es el "
    "usuario {me}). El resultado de abajo trata de los archivos que subió.",
    "selfcheck_verdict_yes": "Sí. Según estas exportaciones, el usuario {uid} es elegible para "
    "{programme}.",
    "selfcheck_verdict_no": "No. Según estas exportaciones, el usuario {uid} no es elegible "
    "para {programme}.",
    "selfcheck_net_source": "De dónde salen los activos netos",
    "selfcheck_importer_words": "(palabras del importador, en inglés)",
    "selfcheck_payout_heading": "El pago con la λ de la ejecución publicada",
    "selfcheck_payout_amount": "Según la fórmula del programa, el pago por estas exportaciones "
    "es de {amount}.",
    "selfcheck_in_run_match": "El usuario {uid} está en la ejecución publicada, y coincide "
    "con estas exportaciones: le paga {paid}.",
    "selfcheck_in_run_differ": "El usuario {uid} está en la ejecución publicada, pero no "
    "coincide con estas exportaciones: allí la pérdida es {loss}, los activos netos {net}, y "
    "le paga {paid}.",
    "selfcheck_nothing": "nada",
    "selfcheck_not_in_run": "El usuario {uid} no está en la ejecución publicada.",
    "selfcheck_no_run": "No hay ninguna ejecución publicada configurada aquí, así que no se "
    "calcula ningún pago.",
    "selfcheck_notes": "Notas",
    "selfcheck_warnings": "Avisos al leer las exportaciones",
    "selfcheck_warnings_hint": "Cuando un aviso menciona --net-assets-usd, se refiere al campo "
    "de activos netos del formulario de arriba.",
    "selfcheck_fills_heading": "Ejecuciones de liquidación forzosa contadas",
    "selfcheck_fills_showing": "Se muestran las primeras {shown} de {total} ejecuciones.",
    "selfcheck_fills_all": "{total} ejecuciones.",
    "selfcheck_col_time": "Hora (UTC)",
    "selfcheck_col_symbol": "Símbolo",
    "selfcheck_col_pnl": "PnL realizado",
    "selfcheck_col_fee": "Comisión de liquidación",
    "selfcheck_col_price": "Precio en USD",
    "selfcheck_col_loss": "Pérdida (USD)",
    "selfcheck_col_source": "Archivo:línea",
    "selfcheck_fills_note": "La pérdida de cada ejecución es (comisión de liquidación − PnL "
    "realizado) × precio en USD, mostrada aquí al céntimo; el total suma los importes exactos "
    "y redondea una sola vez.",
    "selfcheck_chart_heading": "La pérdida en el tiempo",
    "selfcheck_chart_title": "Pérdida por liquidación acumulada por minuto",
    "selfcheck_chart_summary": "{total} perdidos en {minutes} minuto(s) con ejecuciones "
    "contadas, de {start} a {end}.",
    "selfcheck_chart_numbers": "Las cifras del gráfico",
    "selfcheck_col_minute": "Minuto (UTC)",
    "selfcheck_col_cumulative": "Pérdida acumulada",
    "selfcheck_no_fills": "No se contó ninguna ejecución de liquidación forzosa en el "
    "periodo: no hay pérdida que dibujar.",
    "selfcheck_refused": "No se pudieron comprobar estos archivos.",
    "selfcheck_refused_hint": "El mensaje del importador nombra el archivo, la línea y la "
    "columna. Si menciona --net-assets-usd, escriba sus activos netos en el formulario; si "
    "nombra varios uid o --user-id, suba las exportaciones de una sola cuenta.",
    "selfcheck_failed": "La comprobación falló por nuestra parte. Inténtelo más tarde; no se "
    "guardó nada.",
    "upload_not_multipart": "Los archivos no llegaron como una subida de archivos: use el "
    "formulario de esta página.",
    "upload_malformed": "La subida está mal formada o se cortó: inténtelo de nuevo.",
    "upload_too_large": "Los archivos superan {total} MiB en total.",
    "upload_file_too_large": "{name} supera {limit} MiB.",
    "upload_too_many_files": "Como máximo {files} archivos a la vez.",
    "upload_too_many_fields": "El formulario trae campos que esta página no conoce.",
    "upload_field_too_large": "El campo {field} es demasiado largo.",
    "upload_wrong_kind": "{name}: solo se aceptan archivos {kinds}.",
    "upload_no_files": "Elija al menos un archivo exportado.",
    "net_assets_invalid": "Activos netos «{value}»: escriba un importe en USD con cifras y dos "
    "decimales como máximo, sin separadores de miles (12500,00).",
}

CATALOGUES: dict[str, dict[str, str]] = {"en": EN, "es": ES}
