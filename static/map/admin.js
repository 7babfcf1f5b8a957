// Management screens (/admin/): teams and their phones for coordinators, user accounts for
// administrators. French first, English complete; REST calls through common.js (CSRF).
import { GLYPHS_URL, labelLayers } from "/static/map/basemap-style.js";
import { api, ApiError, escapeHtml } from "/static/map/common.js";
import { createSession } from "/static/map/session.js";

const TEXT = {
  fr: {
    title: "Dispatch — gestion",
    brand: "Dispatch — gestion",
    "nav.map": "Carte des équipes",
    "lang.toggle": "English",
    logout: "Se déconnecter",
    "tabs.label": "Sections de la gestion",
    "tab.teams": "Équipes",
    "tab.phones": "Téléphones",
    "tab.users": "Utilisateurs",
    "teams.title": "Équipes",
    "teams.new": "Nouvelle équipe",
    "teams.form.new": "Nouvelle équipe",
    "teams.form.edit": "Modifier : {name}",
    "teams.none": "Aucune équipe pour l'instant : créez la première.",
    "teams.created": "Nouvelle équipe enregistrée : {name}.",
    "teams.saved": "Modifications enregistrées : {name}.",
    "teams.deactivated": "Désactivée : {name}.",
    "teams.reactivated": "Réactivée : {name}.",
    "col.name": "Nom",
    "col.kind": "Type",
    "col.base": "Départ",
    "col.shift": "Horaires",
    "col.vehicle": "Déplacement",
    "col.phones": "Téléphones",
    "teams.phones.one": "{n} téléphone",
    "teams.phones.other": "{n} téléphones",
    "teams.phones.label": "{name} : {phones}, voir ou associer",
    "col.state": "État",
    "col.actions": "Actions",
    "col.phone": "Téléphone",
    "col.paired": "Associé le",
    "col.seen": "Dernier contact",
    "col.username": "Identifiant",
    "col.display": "Nom affiché",
    "col.role": "Rôle",
    "col.team": "Équipe",
    "state.active": "active",
    "state.inactive": "désactivée",
    "state.user.active": "actif",
    "state.user.inactive": "désactivé",
    "state.phone.active": "associé",
    "state.phone.revoked": "révoqué",
    edit: "Modifier",
    "edit.label": "Modifier {name}",
    deactivate: "Désactiver",
    "deactivate.label": "Désactiver {name}",
    reactivate: "Réactiver",
    "reactivate.label": "Réactiver {name}",
    save: "Enregistrer",
    cancel: "Annuler",
    "team.name": "Nom de l'équipe",
    "team.kind": "Type de service",
    "team.start": "Départ de la tournée",
    "team.base": "Base du territoire",
    "team.base.custom": "Autre lieu (cliqué sur la carte)",
    "team.base.choose": "Choisir une base…",
    "team.map.hint": "Ou cliquez sur la carte pour placer le départ (domicile, cabinet…).",
    "team.address": "Ou chercher une adresse",
    "team.address.go": "Chercher",
    "team.address.hint": "Numéro, rue et commune, par exemple : 2 rue du Château, Melun",
    "team.address.none": "Aucune adresse trouvée : vérifiez l'orthographe ou cliquez sur la carte.",
    "team.address.count": "{n} adresse(s) trouvée(s) : choisissez-en une.",
    "team.address.empty": "Tapez une adresse à chercher.",
    "precision.housenumber": "numéro exact",
    "precision.street": "milieu de la rue",
    "precision.commune": "centre de la commune",
    "precision.given": "position donnée",
    "team.map.label": "Carte du départ de la tournée",
    "team.base_name": "Nom du lieu de départ",
    "team.home": "Domicile",
    "team.point": "Départ placé : {lat}, {lon}",
    "team.point.none": "Aucun départ placé.",
    "team.shift_start": "Début de service",
    "team.shift_end": "Fin de service",
    "team.skills": "Compétences (séparées par des virgules)",
    "team.skills.hint": "Par exemple : insuline, pansement, perfusion",
    "team.vehicle": "Déplacement",
    "team.color": "Couleur sur la carte",
    "team.color.free": "Couleur libre : aucune équipe active ne l'utilise.",
    "team.color.used": "Couleur déjà prise par l'équipe {name} : choisissez-en une autre.",
    "team.deactivate.title": "Désactiver l'équipe {name} ?",
    "team.deactivate.text": "Elle ne sera plus proposée pour les tournées. Ses téléphones restent associés ; vous pourrez la réactiver.",
    "kind.nursing": "Soins infirmiers à domicile (SSIAD)",
    "kind.had": "Hospitalisation à domicile (HAD)",
    "kind.nursing_centre": "Centre de soins infirmiers",
    "kind.saad": "Aide à domicile (SAAD)",
    "kind.palliative": "Soins palliatifs",
    "kind.geriatric": "Gériatrie",
    "kind.dac": "Coordination (DAC)",
    "kind.other": "Autre",
    "vehicle.car": "Voiture",
    "vehicle.bike": "Vélo",
    "vehicle.foot": "À pied",
    "error.name": "Donnez un nom à l'équipe.",
    "error.point": "Placez le départ : choisissez une base ou cliquez sur la carte.",
    "error.shift": "La fin de service doit venir après le début.",
    "error.skills": "Compétence « {skill} » : lettres minuscules, chiffres, _ ou - seulement.",
    "error.conflict.team": "Une équipe porte déjà ce nom : choisissez-en un autre.",
    "error.conflict.user": "Cet identifiant existe déjà : choisissez-en un autre.",
    "error.server": "Refusé par le serveur : {error}",
    "error.network": "Le serveur ne répond pas : réessayez dans un instant.",
    "error.forbidden": "Votre rôle ne permet pas cette action.",
    "phones.title": "Téléphones des équipes",
    "phones.team": "Équipe",
    "phones.pair": "Associer un téléphone",
    "phones.pairing.title": "Association d'un téléphone",
    "phones.pairing.howto": "Sur le téléphone de l'équipe, scannez le code QR ou ouvrez le lien, ou tapez le code sur la page du téléphone.",
    "phones.pairing.code": "Code à usage unique :",
    "phones.pairing.link": "Lien :",
    "phones.pairing.qr": "Code QR du lien d'association pour l'équipe {name}",
    "phones.pairing.expires": "Valable jusqu'à {time}, pour un seul téléphone.",
    "phones.pairing.done": "Téléphone associé : {name}.",
    "phones.pairing.expired": "Le code d'association a expiré sans servir : créez-en un autre.",
    "phones.none": "Aucun téléphone associé à cette équipe.",
    "phones.noteam": "Créez d'abord une équipe.",
    "phones.name": "Téléphone n° {id}",
    "phones.never": "jamais",
    "phones.revoke": "Révoquer",
    "phones.revoke.label": "Révoquer {name}",
    "phones.revoke.title": "Révoquer {name} ({team}) ?",
    "phones.revoke.text": "Ce téléphone ne pourra plus envoyer de positions ni voir la tournée. Les positions qu'il n'a pas encore envoyées seront perdues. Pour le réutiliser, associez-le à nouveau.",
    "phones.revoked": "Révoqué : {name}.",
    "users.title": "Utilisateurs",
    "users.new": "Nouvel utilisateur",
    "users.form.new": "Nouvel utilisateur",
    "users.form.edit": "Modifier {name}",
    "users.created": "Utilisateur {name} créé.",
    "users.saved": "Utilisateur {name} enregistré.",
    "users.disabled": "Utilisateur {name} désactivé.",
    "users.enabled": "Utilisateur {name} réactivé.",
    "users.disable": "Désactiver",
    "users.enable": "Réactiver",
    "users.created.sent": "Utilisateur {name} créé : lien d'activation envoyé à {email}.",
    "users.created.unsent": "Utilisateur {name} créé, mais le lien n'a pas pu être envoyé ({error}) : réessayez avec « Envoyer un lien ».",
    "users.created.noemail": "Utilisateur {name} créé, sans adresse e-mail : il ne peut pas se connecter par mot de passe.",
    "users.link": "Envoyer un lien",
    "users.link.label": "Envoyer un lien à {name}",
    "users.link.activate.title": "Envoyer un lien d'activation à {name} ?",
    "users.link.reset.title": "Envoyer un lien de réinitialisation à {name} ?",
    "users.link.activate.text": "Un message part vers {email} avec un lien, valable 72 h une seule fois, pour choisir le mot de passe. Les coordinateurs verront cette action.",
    "users.link.reset.text": "Un message part vers {email} avec un lien, valable 2 h une seule fois, pour choisir un nouveau mot de passe. L'actuel reste valable jusque-là. Les coordinateurs verront cette action.",
    "users.link.send": "Envoyer le lien",
    "users.link.sent.activate": "Lien d'activation envoyé à {name} ({email}).",
    "users.link.sent.reset": "Lien de réinitialisation envoyé à {name} ({email}).",
    "users.noemail": "pas d'adresse e-mail",
    "state.user.pending": "en attente d'activation",
    "user.email": "Adresse e-mail",
    "user.email.hint.new": "Un lien d'activation y est envoyé : l'utilisateur choisit lui-même son mot de passe. Laissez vide pour un compte sans mot de passe (jetons d'accès).",
    "user.email.hint.pending": "Le compte n'est pas encore activé : une nouvelle adresse annule les liens déjà envoyés.",
    "user.email.hint.locked": "Compte en service : seul l'exploitant du serveur change cette adresse (dispatch user email), pour que personne ne détourne ses liens de mot de passe.",
    "error.email": "Adresse e-mail : par exemple marie.dupont@ssiad-exemple.fr.",
    "tab.accounts": "Actions sur les comptes",
    "accounts.title": "Actions sur les comptes",
    "accounts.hint": "Tout ce qui a été fait sur les comptes ces 90 derniers jours : créations, liens de mot de passe envoyés, changements de rôle, désactivations. Si une ligne vous surprend, prévenez la direction de la structure.",
    "accounts.none": "Aucune action sur les comptes ces 90 derniers jours.",
    "accounts.notice": "{n} action(s) sur les comptes depuis votre dernière visite (dernière : {last}).",
    "accounts.notice.open": "Voir les actions",
    "col.when": "Date",
    "col.by": "Par",
    "col.action": "Action",
    "col.account": "Compte",
    "ev.cli": "l'exploitant du serveur (ligne de commande)",
    "ev.user.create": "a créé le compte ({role})",
    "ev.user.update": "a modifié le compte ({fields})",
    "ev.user.update.role": "a changé le rôle : {from} → {to}",
    "ev.user.password_link.activate": "a envoyé un lien d'activation",
    "ev.user.password_link.reset": "a envoyé un lien de réinitialisation du mot de passe",
    "ev.user.password_link.activate.to": "a envoyé un lien d'activation à {email}",
    "ev.user.password_link.reset.to": "a envoyé un lien de réinitialisation du mot de passe à {email}",
    "ev.user.activated": "a activé son compte (mot de passe choisi)",
    "ev.user.password_reset": "a choisi un nouveau mot de passe",
    "ev.user.password_refused": "a tenté de fixer un mot de passe (refusé)",
    "ev.user.password": "a changé le mot de passe sur le serveur",
    "ev.user.disable": "a désactivé le compte",
    "ev.user.enable": "a réactivé le compte",
    "ev.token.create": "a créé un jeton d'accès",
    "ev.token.revoke": "a révoqué un jeton d'accès",
    "field.role": "rôle",
    "field.team_id": "équipe",
    "field.display_name": "nom affiché",
    "field.active": "actif",
    "field.email": "adresse e-mail",
    "mail.missing": "Aucun serveur d'e-mail n'est configuré : les liens d'activation et de réinitialisation ne peuvent pas être envoyés.",
    "mail.how": "Sur le serveur, renseignez smtp_host et smtp_from dans le fichier de réglages (ou DISPATCH_SMTP_HOST et DISPATCH_SMTP_FROM ; smtp_port, smtp_starttls, smtp_user, et le mot de passe dans la variable d'environnement DISPATCH_SMTP_PASSWORD), puis redémarrez le serveur. En attendant, l'exploitant du serveur crée les comptes avec « dispatch user add NOM --role RÔLE ».",
    "users.rule": "Chaque utilisateur choisit lui-même son mot de passe, avec un lien envoyé à son adresse e-mail : personne d'autre ne le connaît, pas même l'administrateur. Les coordinateurs voient chaque action sur les comptes.",
    "users.disable.title": "Désactiver {name} ?",
    "users.disable.text": "Ses sessions et ses jetons d'accès sont fermés tout de suite. Vous pourrez le réactiver.",
    "users.self": "(vous)",
    "user.username": "Identifiant de connexion",
    "user.username.hint": "Lettres, chiffres, point, tiret, @ (sans espace).",
    "user.display": "Nom affiché",
    "user.role": "Rôle",
    "user.team": "Équipe",
    "role.admin": "Administrateur",
    "role.coordinator": "Coordinateur",
    "role.planner": "Planificateur",
    "role.team_member": "Membre d'équipe",
    "error.username": "Identifiant : lettres, chiffres, point, tiret ou @, sans espace.",
    "error.team": "Un membre d'équipe doit appartenir à une équipe.",
    "login.title": "Connexion à la gestion",
    "login.username": "Identifiant",
    "login.password": "Mot de passe",
    "login.submit": "Se connecter",
    "login.failed": "Connexion refusée : vérifiez l'identifiant et le mot de passe.",
    "login.role": "Cette page est réservée aux coordinateurs et aux administrateurs.",
    whoami: "{name} ({role})",
    "age.now": "à l'instant",
    "age.min": "il y a {n} min",
    "age.h": "il y a {n} h",
    "age.d": "le {date}",
    "tab.structures": "Structures",
    "structures.title": "Structures",
    "structures.new": "Nouvelle structure",
    "structures.form.new": "Nouvelle structure",
    "structures.form.edit": "Modifier : {name}",
    "structures.rule": "Chaque structure (SSIAD, HAD, centre de soins…) a ses propres patients, personnels, équipes et visites. Un utilisateur ne voit que ceux des structures auxquelles il appartient.",
    "structures.created": "Nouvelle structure enregistrée : {name}.",
    "structures.saved": "Modifications enregistrées : {name}.",
    "structures.none": "Aucune structure.",
    "col.structure_kind": "Type",
    "col.finess": "FINESS",
    "col.users": "Utilisateurs",
    "col.teams": "Équipes",
    "col.patients": "Patients",
    "col.staff": "Personnels",
    "col.role_structures": "Rôle · structures",
    "structure.name": "Nom de la structure",
    "structure.kind": "Type de structure",
    "structure.finess": "Numéro FINESS (facultatif)",
    "structure.finess.hint": "9 caractères, par exemple 2B0001234 (2A ou 2B en Corse).",
    "skind.ssiad": "Service de soins infirmiers à domicile (SSIAD)",
    "skind.had": "Hospitalisation à domicile (HAD)",
    "skind.nursing_centre": "Centre de soins infirmiers",
    "skind.saad": "Service d'aide à domicile (SAAD)",
    "skind.palliative_team": "Équipe mobile de soins palliatifs",
    "skind.geriatric_team": "Équipe mobile de gériatrie",
    "skind.dac": "Dispositif d'appui à la coordination (DAC)",
    "error.structure.name": "Donnez un nom à la structure.",
    "error.finess": "Numéro FINESS : 9 caractères, chiffres (2A ou 2B en Corse), ou laissez vide.",
    "error.conflict.structure": "Une structure porte déjà ce nom : choisissez-en un autre.",
    "user.structures": "Structures",
    "user.structures.hint": "L'utilisateur voit les patients, personnels, équipes et visites de ces structures seulement.",
    "error.structures": "Cochez au moins une structure.",
    "team.structure": "Structure",
    "field.structure_ids": "structures",
  },
  en: {
    title: "Dispatch — management",
    brand: "Dispatch — management",
    "nav.map": "Team map",
    "lang.toggle": "Français",
    logout: "Log out",
    "tabs.label": "Management sections",
    "tab.teams": "Teams",
    "tab.phones": "Phones",
    "tab.users": "Users",
    "teams.title": "Teams",
    "teams.new": "New team",
    "teams.form.new": "New team",
    "teams.form.edit": "Edit: {name}",
    "teams.none": "No team yet: create the first one.",
    "teams.created": "New team saved: {name}.",
    "teams.saved": "Changes saved: {name}.",
    "teams.deactivated": "Deactivated: {name}.",
    "teams.reactivated": "Reactivated: {name}.",
    "col.name": "Name",
    "col.kind": "Kind",
    "col.base": "Start",
    "col.shift": "Hours",
    "col.vehicle": "Travel",
    "col.phones": "Phones",
    "teams.phones.one": "{n} phone",
    "teams.phones.other": "{n} phones",
    "teams.phones.label": "{name}: {phones}, see or pair",
    "col.state": "State",
    "col.actions": "Actions",
    "col.phone": "Phone",
    "col.paired": "Paired on",
    "col.seen": "Last contact",
    "col.username": "Login",
    "col.display": "Display name",
    "col.role": "Role",
    "col.team": "Team",
    "state.active": "active",
    "state.inactive": "deactivated",
    "state.user.active": "active",
    "state.user.inactive": "disabled",
    "state.phone.active": "paired",
    "state.phone.revoked": "revoked",
    edit: "Edit",
    "edit.label": "Edit {name}",
    deactivate: "Deactivate",
    "deactivate.label": "Deactivate {name}",
    reactivate: "Reactivate",
    "reactivate.label": "Reactivate {name}",
    save: "Save",
    cancel: "Cancel",
    "team.name": "Team name",
    "team.kind": "Kind of service",
    "team.start": "Where the round starts",
    "team.base": "Base of the territory",
    "team.base.custom": "Another place (clicked on the map)",
    "team.base.choose": "Choose a base…",
    "team.map.hint": "Or click on the map to place the start (home, practice…).",
    "team.address": "Or search an address",
    "team.address.go": "Search",
    "team.address.hint": "Number, street and town, for example: 2 rue du Château, Melun",
    "team.address.none": "No address found: check the spelling or click on the map.",
    "team.address.count": "{n} address(es) found: choose one.",
    "team.address.empty": "Type an address to search.",
    "precision.housenumber": "exact number",
    "precision.street": "middle of the street",
    "precision.commune": "centre of the town",
    "precision.given": "given position",
    "team.map.label": "Map of the round's start",
    "team.base_name": "Name of the starting place",
    "team.home": "Home",
    "team.point": "Start placed: {lat}, {lon}",
    "team.point.none": "No start placed.",
    "team.shift_start": "Shift start",
    "team.shift_end": "Shift end",
    "team.skills": "Skills (separated by commas)",
    "team.skills.hint": "For example: insulin, dressing, infusion",
    "team.vehicle": "Travel",
    "team.color": "Colour on the map",
    "team.color.free": "Free colour: no active team uses it.",
    "team.color.used": "Colour already taken by team {name}: choose another.",
    "team.deactivate.title": "Deactivate team {name}?",
    "team.deactivate.text": "It will no longer be offered for rounds. Its phones stay paired; you can reactivate it.",
    "kind.nursing": "Home nursing (SSIAD)",
    "kind.had": "Hospital at home (HAD)",
    "kind.nursing_centre": "Nursing centre",
    "kind.saad": "Home care aides (SAAD)",
    "kind.palliative": "Palliative care",
    "kind.geriatric": "Geriatric care",
    "kind.dac": "Care coordination (DAC)",
    "kind.other": "Other",
    "vehicle.car": "Car",
    "vehicle.bike": "Bike",
    "vehicle.foot": "On foot",
    "error.name": "Give the team a name.",
    "error.point": "Place the start: choose a base or click on the map.",
    "error.shift": "The shift must end after it starts.",
    "error.skills": "Skill “{skill}”: lowercase letters, digits, _ or - only.",
    "error.conflict.team": "A team already has this name: choose another.",
    "error.conflict.user": "This login already exists: choose another.",
    "error.server": "Refused by the server: {error}",
    "error.network": "The server does not answer: try again in a moment.",
    "error.forbidden": "Your role does not allow this action.",
    "phones.title": "Team phones",
    "phones.team": "Team",
    "phones.pair": "Pair a phone",
    "phones.pairing.title": "Pairing a phone",
    "phones.pairing.howto": "On the team's phone, scan the QR code or open the link, or type the code on the phone page.",
    "phones.pairing.code": "One-time code:",
    "phones.pairing.link": "Link:",
    "phones.pairing.qr": "QR code of the pairing link for team {name}",
    "phones.pairing.expires": "Valid until {time}, for one phone only.",
    "phones.pairing.done": "Phone paired: {name}.",
    "phones.pairing.expired": "The pairing code expired unused: create another one.",
    "phones.none": "No phone paired with this team.",
    "phones.noteam": "Create a team first.",
    "phones.name": "Phone no. {id}",
    "phones.never": "never",
    "phones.revoke": "Revoke",
    "phones.revoke.label": "Revoke {name}",
    "phones.revoke.title": "Revoke {name} ({team})?",
    "phones.revoke.text": "This phone will no longer send positions or see the round. Positions it has not sent yet will be lost. To use it again, pair it again.",
    "phones.revoked": "Revoked: {name}.",
    "users.title": "Users",
    "users.new": "New user",
    "users.form.new": "New user",
    "users.form.edit": "Edit {name}",
    "users.created": "User {name} created.",
    "users.saved": "User {name} saved.",
    "users.disabled": "User {name} disabled.",
    "users.enabled": "User {name} enabled again.",
    "users.disable": "Disable",
    "users.enable": "Enable",
    "users.created.sent": "User {name} created: activation link sent to {email}.",
    "users.created.unsent": "User {name} created, but the link could not be sent ({error}): try again with \"Send a link\".",
    "users.created.noemail": "User {name} created, without an e-mail address: they cannot log in with a password.",
    "users.link": "Send a link",
    "users.link.label": "Send a link to {name}",
    "users.link.activate.title": "Send an activation link to {name}?",
    "users.link.reset.title": "Send a reset link to {name}?",
    "users.link.activate.text": "A message goes to {email} with a link, valid once for 72 h, to choose the password. Coordinators will see this action.",
    "users.link.reset.text": "A message goes to {email} with a link, valid once for 2 h, to choose a new password. The current one works until then. Coordinators will see this action.",
    "users.link.send": "Send the link",
    "users.link.sent.activate": "Activation link sent to {name} ({email}).",
    "users.link.sent.reset": "Reset link sent to {name} ({email}).",
    "users.noemail": "no e-mail address",
    "state.user.pending": "awaiting activation",
    "user.email": "E-mail address",
    "user.email.hint.new": "An activation link is sent to it: the user chooses their own password. Leave empty for an account without a password (access tokens).",
    "user.email.hint.pending": "The account is not activated yet: a new address cancels the links already sent.",
    "user.email.hint.locked": "Account in use: only the server operator changes this address (dispatch user email), so that nobody diverts its password links.",
    "error.email": "E-mail address: for example marie.dupont@ssiad-example.fr.",
    "tab.accounts": "Account activity",
    "accounts.title": "Account activity",
    "accounts.hint": "Everything done to accounts in the last 90 days: creations, password links sent, role changes, accounts disabled. If a line surprises you, tell the structure's management.",
    "accounts.none": "No account activity in the last 90 days.",
    "accounts.notice": "{n} account action(s) since your last visit (latest: {last}).",
    "accounts.notice.open": "See the actions",
    "col.when": "Date",
    "col.by": "By",
    "col.action": "Action",
    "col.account": "Account",
    "ev.cli": "the server operator (command line)",
    "ev.user.create": "created the account ({role})",
    "ev.user.update": "changed the account ({fields})",
    "ev.user.update.role": "changed the role: {from} → {to}",
    "ev.user.password_link.activate": "sent an activation link",
    "ev.user.password_link.reset": "sent a password reset link",
    "ev.user.password_link.activate.to": "sent an activation link to {email}",
    "ev.user.password_link.reset.to": "sent a password reset link to {email}",
    "ev.user.activated": "activated their account (password chosen)",
    "ev.user.password_reset": "chose a new password",
    "ev.user.password_refused": "tried to set a password (refused)",
    "ev.user.password": "changed the password on the server",
    "ev.user.disable": "disabled the account",
    "ev.user.enable": "enabled the account again",
    "ev.token.create": "created an access token",
    "ev.token.revoke": "revoked an access token",
    "field.role": "role",
    "field.team_id": "team",
    "field.display_name": "display name",
    "field.active": "active",
    "field.email": "e-mail address",
    "mail.missing": "No e-mail server is configured: activation and reset links cannot be sent.",
    "mail.how": "On the server, set smtp_host and smtp_from in the settings file (or DISPATCH_SMTP_HOST and DISPATCH_SMTP_FROM; smtp_port, smtp_starttls, smtp_user, and the password in the environment variable DISPATCH_SMTP_PASSWORD), then restart the server. Until then, the server operator creates accounts with \"dispatch user add NAME --role ROLE\".",
    "users.rule": "Each user chooses their own password, through a link sent to their e-mail address: nobody else knows it, not even the administrator. Coordinators see every action on accounts.",
    "users.disable.title": "Disable {name}?",
    "users.disable.text": "Their sessions and access tokens are closed at once. You can enable them again.",
    "users.self": "(you)",
    "user.username": "Login",
    "user.username.hint": "Letters, digits, dot, dash, @ (no space).",
    "user.display": "Display name",
    "user.role": "Role",
    "user.team": "Team",
    "role.admin": "Administrator",
    "role.coordinator": "Coordinator",
    "role.planner": "Planner",
    "role.team_member": "Team member",
    "error.username": "Login: letters, digits, dot, dash or @, no space.",
    "error.team": "A team member must belong to a team.",
    "login.title": "Management login",
    "login.username": "Login",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.failed": "Login refused: check the login and the password.",
    "login.role": "This page is for coordinators and administrators.",
    whoami: "{name} ({role})",
    "age.now": "just now",
    "age.min": "{n} min ago",
    "age.h": "{n} h ago",
    "age.d": "on {date}",
    "tab.structures": "Organisations",
    "structures.title": "Organisations",
    "structures.new": "New organisation",
    "structures.form.new": "New organisation",
    "structures.form.edit": "Edit: {name}",
    "structures.rule": "Each organisation (home nursing, hospital at home, nursing centre…) has its own patients, staff, teams and visits. A user sees only those of the organisations they belong to.",
    "structures.created": "New organisation saved: {name}.",
    "structures.saved": "Changes saved: {name}.",
    "structures.none": "No organisation.",
    "col.structure_kind": "Kind",
    "col.finess": "FINESS",
    "col.users": "Users",
    "col.teams": "Teams",
    "col.patients": "Patients",
    "col.staff": "Staff",
    "col.role_structures": "Role · organisations",
    "structure.name": "Name of the organisation",
    "structure.kind": "Kind of organisation",
    "structure.finess": "FINESS number (optional)",
    "structure.finess.hint": "9 characters, for example 2B0001234 (2A or 2B in Corsica).",
    "skind.ssiad": "Home nursing service (SSIAD)",
    "skind.had": "Hospital at home (HAD)",
    "skind.nursing_centre": "Nursing centre",
    "skind.saad": "Home help service (SAAD)",
    "skind.palliative_team": "Mobile palliative care team",
    "skind.geriatric_team": "Mobile geriatric team",
    "skind.dac": "Care coordination support (DAC)",
    "error.structure.name": "Give the organisation a name.",
    "error.finess": "FINESS number: 9 characters, digits (2A or 2B in Corsica), or leave it empty.",
    "error.conflict.structure": "An organisation already has this name: choose another.",
    "user.structures": "Organisations",
    "user.structures.hint": "The user sees the patients, staff, teams and visits of these organisations only.",
    "error.structures": "Tick at least one organisation.",
    "team.structure": "Organisation",
    "field.structure_ids": "organisations",
  },
};

const KINDS = ["nursing", "had", "nursing_centre", "saad", "palliative", "geriatric", "dac", "other"];
const VEHICLES = ["car", "bike", "foot"];
const ROLES = ["coordinator", "team_member", "planner", "admin"];
const STRUCTURE_KINDS = ["ssiad", "had", "nursing_centre", "saad", "palliative_team", "geriatric_team", "dac"];
const FINESS = /^[0-9][0-9AB][0-9]{7}$/;
/** Same order as the server's TEAM_PALETTE: a new team is offered the first free one. */
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"];
const SKILL = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const DEVICE_POLL_MS = 4000;

const LOCALE_KEY = "dispatch.locale";
let locale = localStorage.getItem(LOCALE_KEY) || "fr";
if (!TEXT[locale]) locale = "fr";

const state = {
  me: null,
  config: null,
  bases: [],
  teams: [],
  users: [],
  structures: [], // the caller's (an administrator: all), with their counts
  editingStructure: null,
  mail: null, // {configured, how} for administrators
  accountEvents: [],
  devices: [],
  tab: "teams",
  editingTeam: null, // team being edited, or null for a new one
  editingUser: null,
  point: null, // [lon, lat] of the team form's start
  pairing: null, // {code, link, team_id, expires_at_s, devices_before}
};
let map = null;
let marker = null;
let pollTimer = null;

// ------------------------------------------------------------------ texts
export function t(key, vars = {}) {
  const text = TEXT[locale][key] ?? TEXT.fr[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

function applyTexts() {
  document.documentElement.lang = locale;
  document.documentElement.dataset.locale = locale;
  for (const el of document.querySelectorAll("[data-a]")) el.textContent = t(el.dataset.a);
  for (const el of document.querySelectorAll("[data-a-aria-label]")) el.setAttribute("aria-label", t(el.dataset.aAriaLabel));
  for (const id of ["lang", "login-lang"]) $(id).setAttribute("lang", locale === "fr" ? "en" : "fr");
}

function setLocale(next) {
  locale = next;
  localStorage.setItem(LOCALE_KEY, next);
  applyTexts();
  reshow();
  if (state.me) renderAll();
}

function $(id) {
  return document.getElementById(id);
}

function errorText(err, conflictKey) {
  if (err instanceof ApiError) {
    if (err.status === 409 && conflictKey) return t(conflictKey);
    // A refusal that explains a rule (a password set by an admin...) is shown as it is.
    if (err.status === 403) return err.body && err.body.code === "forbidden" && !/^this action needs the role|^cette action demande le rôle/.test(err.message) ? t("error.server", { error: err.message }) : t("error.forbidden");
    return t("error.server", { error: err.message });
  }
  return t("error.network");
}

/** Messages on screen, kept as functions so that they follow a change of language. */
const shown = new Map();

function show(el, message) {
  if (message) shown.set(el, message);
  else shown.delete(el);
  el.textContent = message ? message() : "";
}

function reshow() {
  for (const [el, message] of shown) el.textContent = message();
}

function say(id, message) {
  const el = $(id);
  show(el, null);
  // Written a moment later so that screen readers announce a repeated message too.
  setTimeout(() => show(el, message), 30);
}

function timeOf(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString(locale === "fr" ? "fr-FR" : "en-GB", { hour: "2-digit", minute: "2-digit" });
}

function dateTimeOf(seconds) {
  return new Date(seconds * 1000).toLocaleString(locale === "fr" ? "fr-FR" : "en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function ageOf(seconds) {
  if (seconds == null) return t("phones.never");
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return t("age.now");
  if (s < 5400) return t("age.min", { n: Math.round(s / 60) });
  if (s < 86400) return t("age.h", { n: Math.round(s / 3600) });
  return t("age.d", { date: dateTimeOf(seconds) });
}

function teamName(id) {
  const team = state.teams.find((x) => x.id === id);
  return team ? team.name : `#${id}`;
}

/** "Pixel 7 · Android 14" from a browser's user agent (the label a phone pairs with). */
function shortDevice(label) {
  if (!label || !label.startsWith("Mozilla/")) return label || "";
  const inside = (label.match(/\(([^)]*)\)/) || [])[1] || "";
  const parts = inside.split(";").map((x) => x.trim());
  const android = parts.find((x) => /^Android/.test(x));
  if (android) {
    const model = parts[parts.length - 1];
    return model && model !== android && !/^(Linux|U|K|wv)$/.test(model) ? `${model} · ${android}` : android;
  }
  const ios = parts.find((x) => /^(iPhone|iPad)/.test(x));
  if (ios) return ios;
  return parts[0] || "";
}

function deviceName(device) {
  const base = t("phones.name", { id: device.id });
  const short = shortDevice(device.label);
  return short ? `${base} — ${short}` : base;
}

// ------------------------------------------------------------------ login
const session = createSession({
  allowed: (user) => user.role === "coordinator" || user.role === "admin",
  failedText: () => t("login.failed"),
  roleText: () => t("login.role"),
  errorText: (err) => errorText(err),
  show: (el, message) => show(el, message),
});
/** A REST call of the page (the log-in comes back when the session has ended). */
const call = session.call;
/** Server time minus this device's time (the pairing code's expiry is the server's). */
let clockOffsetS = 0;

// ------------------------------------------------------------------ tabs
function tabs() {
  return [...document.querySelectorAll("[role=tab]")].filter((b) => !b.hidden);
}

function showTab(name, { focus = false } = {}) {
  state.tab = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on && focus) tab.focus();
  }
  for (const panel of document.querySelectorAll("[role=tabpanel]")) panel.hidden = panel.id !== `panel-${name}`;
  if (history.replaceState) history.replaceState(null, "", `#${name}`);
  clearInterval(pollTimer);
  pollTimer = null;
  if (name === "phones") {
    loadDevices();
    pollTimer = setInterval(loadDevices, DEVICE_POLL_MS);
  }
  if (name === "users") loadUsers();
  if (name === "structures") loadStructures();
  if (name === "accounts") loadAccountEvents({ seen: true });
  if (name === "teams" && map) map.resize();
}

function setupTabs() {
  const list = document.querySelector("[role=tablist]");
  list.addEventListener("click", (e) => {
    const tab = e.target.closest("[role=tab]");
    if (tab) showTab(tab.id.slice(4));
  });
  list.addEventListener("keydown", (e) => {
    const all = tabs();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === "ArrowRight") j = (i + 1) % all.length;
    else if (e.key === "ArrowLeft") j = (i - 1 + all.length) % all.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = all.length - 1;
    if (j === null) return;
    e.preventDefault();
    showTab(all[j].id.slice(4), { focus: true });
  });
}

// ------------------------------------------------------------------ teams
async function loadTeams() {
  const [reply, devices] = await Promise.all([
    call("/api/teams?limit=1000", { token: null }),
    call("/api/devices?limit=1000", { token: null }).catch(() => null),
  ]);
  state.teams = reply.items;
  state.phoneCounts = new Map();
  for (const d of devices ? devices.items : []) {
    if (!d.revoked) state.phoneCounts.set(d.team_id, (state.phoneCounts.get(d.team_id) || 0) + 1);
  }
  renderTeams();
  renderTeamSelects();
}

function baseLabel(team) {
  if (team.base_name) return team.base_name;
  const base = state.bases.find((b) => Math.abs(b.lon - team.base_lon) < 1e-5 && Math.abs(b.lat - team.base_lat) < 1e-5);
  if (base) return base.name;
  return `${Number(team.base_lat).toFixed(4)}, ${Number(team.base_lon).toFixed(4)}`;
}

function phones(team) {
  return (state.phoneCounts && state.phoneCounts.get(team.id)) || 0;
}

function phonesText(n) {
  const form = new Intl.PluralRules(locale).select(n) === "one" ? "one" : "other";
  return t(`teams.phones.${form}`, { n });
}

function renderTeams() {
  const body = document.querySelector("#team-table tbody");
  if (!state.teams.length) {
    body.innerHTML = `<tr><td colspan="8">${escapeHtml(t("teams.none"))}</td></tr>`;
    return;
  }
  body.innerHTML = state.teams.map((team) => {
    const name = escapeHtml(team.name);
    const skills = (team.skills || []).join(", ");
    const toggle = team.active
      ? `<button type="button" data-act="deactivate" aria-label="${escapeHtml(t("deactivate.label", { name: team.name }))}">${escapeHtml(t("deactivate"))}</button>`
      : `<button type="button" data-act="reactivate" aria-label="${escapeHtml(t("reactivate.label", { name: team.name }))}">${escapeHtml(t("reactivate"))}</button>`;
    return `<tr data-team-id="${team.id}" class="${team.active ? "" : "inactive"}">
      <th scope="row"><span class="swatch" data-color="${escapeHtml(team.color || "#777")}" aria-hidden="true"></span><span class="tname">${name}</span>${skills ? `<span class="sub">${escapeHtml(skills)}</span>` : ""}</th>
      <td>${escapeHtml(t(`kind.${team.kind}`))}${state.structures.length > 1 ? `<span class="sub">${escapeHtml(structureName(team.structure_id))}</span>` : ""}</td>
      <td>${escapeHtml(baseLabel(team))}</td>
      <td class="num">${escapeHtml(team.shift_start)}–${escapeHtml(team.shift_end)}</td>
      <td>${escapeHtml(t(`vehicle.${team.vehicle_profile}`))}</td>
      <td>${team.active
        ? `<button type="button" class="linkish" data-act="phones" aria-label="${escapeHtml(t("teams.phones.label", { name: team.name, phones: phonesText(phones(team)) }))}">${escapeHtml(phonesText(phones(team)))}</button>`
        : escapeHtml(phonesText(phones(team)))}</td>
      <td><span class="pill ${team.active ? "on" : "off"}">${escapeHtml(t(team.active ? "state.active" : "state.inactive"))}</span></td>
      <td class="row-actions"><button type="button" data-act="edit" aria-label="${escapeHtml(t("edit.label", { name: team.name }))}">${escapeHtml(t("edit"))}</button>${toggle}</td>
    </tr>`;
  }).join("");
  // Through CSSOM: the Content-Security-Policy allows no style attribute in HTML text.
  for (const el of body.querySelectorAll(".swatch[data-color]")) el.style.background = el.dataset.color;
}

function renderTeamSelects() {
  const options = (teams) => teams.map((x) => `<option value="${x.id}">${escapeHtml(x.name)}</option>`).join("");
  const active = state.teams.filter((x) => x.active);
  const ph = $("ph-team");
  const keep = ph.value;
  ph.innerHTML = options(active);
  if (active.some((x) => String(x.id) === keep)) ph.value = keep;
  $("ph-pair").disabled = !active.length;
  const uf = $("uf-team");
  const keepU = uf.value;
  uf.innerHTML = options(active);
  if (active.some((x) => String(x.id) === keepU)) uf.value = keepU;
}

function fillSelect(select, values, prefix) {
  const keep = select.value;
  select.innerHTML = values.map((v) => `<option value="${v}">${escapeHtml(t(`${prefix}.${v}`))}</option>`).join("");
  if (keep) select.value = keep;
}

function fillBaseSelect() {
  const select = $("tf-base");
  const keep = select.value;
  select.innerHTML = `<option value="">${escapeHtml(t(state.point ? "team.base.custom" : "team.base.choose"))}</option>`
    + state.bases.map((b, i) => `<option value="${i}">${escapeHtml(b.name)}</option>`).join("");
  select.value = keep;
}

function colorOwner(color, exceptId) {
  const c = (color || "").toLowerCase();
  return state.teams.find((x) => x.active && x.id !== exceptId && (x.color || "").toLowerCase() === c) || null;
}

function freeColor() {
  const used = new Set(state.teams.filter((x) => x.active).map((x) => (x.color || "").toLowerCase()));
  return PALETTE.find((c) => !used.has(c)) || "#000000";
}

function showColorHint() {
  const owner = colorOwner($("tf-color").value, state.editingTeam ? state.editingTeam.id : null);
  const hint = $("tf-color-hint");
  hint.textContent = owner ? t("team.color.used", { name: owner.name }) : t("team.color.free");
  hint.classList.toggle("warn", !!owner);
}

function showPoint() {
  $("tf-point").textContent = state.point
    ? t("team.point", { lat: state.point[1].toFixed(5), lon: state.point[0].toFixed(5) })
    : t("team.point.none");
}

function setPoint(lonlat, { fly = false } = {}) {
  state.point = lonlat ? [Number(lonlat[0]), Number(lonlat[1])] : null;
  if (state.point && $("tf-base").getAttribute("aria-invalid") === "true") {
    $("tf-base").removeAttribute("aria-invalid");
    show($("team-error"), null);
  }
  showPoint();
  if (!map) return;
  if (!state.point) {
    if (marker) marker.remove();
    marker = null;
    return;
  }
  if (!marker) {
    const el = document.createElement("div");
    el.className = "start-marker";
    marker = new maplibregl.Marker({ element: el, anchor: "bottom" });
  }
  marker.getElement().style.background = $("tf-color").value;
  marker.setLngLat(state.point).addTo(map);
  if (fly) map.easeTo({ center: state.point, zoom: Math.max(map.getZoom(), 12) });
}

function baseStyle() {
  const config = state.config || {};
  const sources = {};
  const layers = [{ id: "background", type: "background", paint: { "background-color": "#f3f1ec" } }];
  if (config.basemap_url) {
    sources.base = { type: "vector", url: `pmtiles://${location.origin}${config.basemap_url}`, attribution: "© OpenStreetMap" };
    const road = (id, classes, color, widths, minzoom = 0) => ({
      id, type: "line", source: "base", "source-layer": "roads", minzoom,
      filter: ["in", ["get", "class"], ["literal", classes]],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": color, "line-width": ["interpolate", ["exponential", 1.6], ["zoom"], 6, widths[0], 16, widths[1]] },
    });
    layers.push(
      { id: "areas-fill", type: "fill", source: "base", "source-layer": "areas", filter: ["!=", ["get", "code"], "boundary"], paint: { "fill-color": "#ece8df", "fill-outline-color": "#cfc8b8" } },
      road("roads-minor", ["residential", "living_street", "unclassified", "service", "track", "other"], "#ffffff", [0.4, 6], 11),
      road("roads-tertiary", ["tertiary"], "#fefcd6", [0.6, 8]),
      road("roads-secondary", ["secondary"], "#f7e08f", [0.8, 10]),
      road("roads-primary", ["primary", "trunk", "motorway"], "#f2a65a", [1.2, 12]),
      { id: "bases", type: "circle", source: "base", "source-layer": "bases", paint: { "circle-radius": 5, "circle-color": "#123a5a", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } },
      ...labelLayers(config, t),
    );
    return { version: 8, glyphs: GLYPHS_URL, sources, layers };
  }
  return { version: 8, sources, layers };
}

function ensureMap() {
  if (map || typeof maplibregl === "undefined") return;
  if (typeof pmtiles !== "undefined" && !ensureMap.protocol) {
    ensureMap.protocol = new pmtiles.Protocol();
    maplibregl.addProtocol("pmtiles", ensureMap.protocol.tile);
  }
  const bbox = state.config && state.config.territory && state.config.territory.bbox;
  map = new maplibregl.Map({
    container: "tf-map",
    style: baseStyle(),
    ...(bbox ? { bounds: [[bbox[0], bbox[1]], [bbox[2], bbox[3]]], fitBoundsOptions: { padding: 10 } } : { center: [2.35, 46.6], zoom: 4 }),
    attributionControl: { compact: true },
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.getCanvas().style.cursor = "crosshair";
  map.on("click", (e) => {
    const lonlat = [e.lngLat.lng, e.lngLat.lat];
    const select = $("tf-base");
    const nameInput = $("tf-base-name");
    const wasBase = select.value !== "" && state.bases[Number(select.value)];
    select.value = "";
    if (!nameInput.value.trim() || (wasBase && nameInput.value === wasBase.name)) nameInput.value = t("team.home");
    setPoint(lonlat);
    fillBaseSelect();
  });
  window.adminMap = map;
  map.on("load", () => { document.body.dataset.mapReady = "1"; if (state.point) setPoint(state.point); });
}

function openTeamForm(team) {
  state.editingTeam = team || null;
  const form = $("team-form");
  form.hidden = false;
  show($("team-error"), null);
  $("team-form-title").textContent = team ? t("teams.form.edit", { name: team.name }) : t("teams.form.new");
  $("tf-name").value = team ? team.name : "";
  // A new team of a user working for several structures: which one it belongs to.
  $("tf-structure-row").hidden = !!team || (state.me.structure_ids || []).length < 2;
  fillSelect($("tf-kind"), KINDS, "kind");
  fillSelect($("tf-vehicle"), VEHICLES, "vehicle");
  $("tf-kind").value = team ? team.kind : "nursing";
  $("tf-vehicle").value = team ? team.vehicle_profile : "car";
  $("tf-start").value = team ? team.shift_start : "07:00";
  $("tf-end").value = team ? team.shift_end : "19:00";
  $("tf-skills").value = team ? (team.skills || []).join(", ") : "";
  $("tf-color").value = team && team.color ? team.color : freeColor();
  $("tf-base-name").value = team ? team.base_name || "" : "";
  delete $("tf-base-name").dataset.fromAddress;
  $("tf-address").value = "";
  $("tf-address-results").innerHTML = "";
  addressMatches = [];
  show($("tf-address-status"), null);
  state.point = null;
  fillBaseSelect();
  ensureMap();
  if (map) map.resize();
  if (team) {
    const i = state.bases.findIndex((b) => Math.abs(b.lon - team.base_lon) < 1e-6 && Math.abs(b.lat - team.base_lat) < 1e-6);
    setPoint([team.base_lon, team.base_lat], { fly: true });
    fillBaseSelect();
    $("tf-base").value = i >= 0 ? String(i) : "";
  } else {
    setPoint(null);
  }
  showColorHint();
  $("tf-name").focus();
}

function closeTeamForm(focusId) {
  $("team-form").hidden = true;
  state.editingTeam = null;
  const back = focusId ? document.querySelector(`#team-table tr[data-team-id="${focusId}"] [data-act=edit]`) : $("team-new");
  (back || $("team-new")).focus();
}

function readTeamForm() {
  const name = $("tf-name").value.trim();
  if (!name) return { error: () => t("error.name"), field: "tf-name" };
  if (!state.point) return { error: () => t("error.point"), field: "tf-base" };
  const start = $("tf-start").value;
  const end = $("tf-end").value;
  if (!start || !end || end <= start) return { error: () => t("error.shift"), field: "tf-end" };
  const skills = $("tf-skills").value.split(/[,;]+/).map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = skills.find((s) => !SKILL.test(s));
  if (bad) return { error: () => t("error.skills", { skill: bad }), field: "tf-skills" };
  const color = $("tf-color").value.toLowerCase();
  const owner = colorOwner(color, state.editingTeam ? state.editingTeam.id : null);
  if (owner) return { error: () => t("team.color.used", { name: owner.name }), field: "tf-color" };
  const body = {
    name,
    kind: $("tf-kind").value,
    base_lon: Number(state.point[0].toFixed(6)),
    base_lat: Number(state.point[1].toFixed(6)),
    shift_start: start,
    shift_end: end,
    skills,
    vehicle_profile: $("tf-vehicle").value,
    color,
  };
  const baseName = $("tf-base-name").value.trim();
  if (baseName) body.base_name = baseName;
  if (!state.editingTeam && !$("tf-structure-row").hidden && $("tf-structure").value) body.structure_id = Number($("tf-structure").value);
  return { body };
}

async function saveTeam(e) {
  e.preventDefault();
  const { body, error, field } = readTeamForm();
  const errorEl = $("team-error");
  for (const el of $("team-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  if (error) {
    show(errorEl, error);
    $(field).setAttribute("aria-invalid", "true");
    $(field).focus();
    return;
  }
  show(errorEl, null);
  const editing = state.editingTeam;
  $("tf-save").disabled = true;
  try {
    const reply = editing
      ? await call(`/api/teams/${editing.id}`, { method: "PATCH", body, token: null })
      : await call("/api/teams", { method: "POST", body, token: null });
    await loadTeams();
    closeTeamForm(reply.team.id);
    say("teams-status", () => t(editing ? "teams.saved" : "teams.created", { name: reply.team.name }));
  } catch (err) {
    show(errorEl, () => errorText(err, "error.conflict.team"));
  } finally {
    $("tf-save").disabled = false;
  }
}

async function setTeamActive(team, active) {
  if (!active) {
    const sure = await confirmAction(t("team.deactivate.title", { name: team.name }), t("team.deactivate.text"), t("deactivate"));
    if (!sure) return;
  }
  try {
    await call(`/api/teams/${team.id}`, { method: "PATCH", body: { active }, token: null });
    await loadTeams();
    say("teams-status", () => t(active ? "teams.reactivated" : "teams.deactivated", { name: team.name }));
  } catch (err) {
    say("teams-status", () => errorText(err));
  }
  const row = document.querySelector(`#team-table tr[data-team-id="${team.id}"] [data-act=${active ? "deactivate" : "reactivate"}]`);
  if (row) row.focus();
}

/** A field the user corrects loses its error mark, and the form its error message. */
function clearInvalid(e) {
  if (e.target.getAttribute("aria-invalid") !== "true") return;
  e.target.removeAttribute("aria-invalid");
  const error = e.currentTarget.querySelector(".error");
  if (error) show(error, null);
}

let addressMatches = [];

async function searchAddress() {
  const query = $("tf-address").value.trim();
  const list = $("tf-address-results");
  list.innerHTML = "";
  addressMatches = [];
  if (!query) {
    show($("tf-address-status"), () => t("team.address.empty"));
    return;
  }
  try {
    const reply = await call(`/api/geocode?q=${encodeURIComponent(query)}&limit=5`, { token: null });
    addressMatches = reply.items || [];
    renderAddressMatches();
    const n = addressMatches.length;
    show($("tf-address-status"), () => (n ? t("team.address.count", { n }) : t("team.address.none")));
  } catch (err) {
    show($("tf-address-status"), () => errorText(err));
  }
}

function renderAddressMatches() {
  $("tf-address-results").innerHTML = addressMatches.map((m, i) => `<li><button type="button" data-match="${i}">${escapeHtml(m.label)}<span class="sub">${escapeHtml(t(`precision.${m.precision}`))}</span></button></li>`).join("");
}

function chooseAddress(i) {
  const match = addressMatches[i];
  if (!match) return;
  const nameInput = $("tf-base-name");
  const select = $("tf-base");
  const previous = select.value !== "" && state.bases[Number(select.value)];
  if (!nameInput.value.trim() || nameInput.value === t("team.home") || (previous && nameInput.value === previous.name) || nameInput.dataset.fromAddress === "1") {
    nameInput.value = match.label;
    nameInput.dataset.fromAddress = "1";
  }
  select.value = "";
  setPoint([match.lon, match.lat], { fly: true });
  fillBaseSelect();
  addressMatches = [];
  $("tf-address-results").innerHTML = "";
  show($("tf-address-status"), null);
  nameInput.focus();
}

function setupTeams() {
  $("tf-address-go").addEventListener("click", searchAddress);
  $("tf-address").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); searchAddress(); }
  });
  $("tf-address-results").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-match]");
    if (button) chooseAddress(Number(button.dataset.match));
  });
  $("tf-base-name").addEventListener("input", (e) => { delete e.target.dataset.fromAddress; });
  $("team-new").addEventListener("click", () => openTeamForm(null));
  $("tf-cancel").addEventListener("click", () => closeTeamForm(state.editingTeam && state.editingTeam.id));
  $("team-form").addEventListener("submit", saveTeam);
  $("team-form").addEventListener("input", clearInvalid);
  $("team-form").addEventListener("change", clearInvalid);
  $("team-form").addEventListener("keydown", (e) => { if (e.key === "Escape") closeTeamForm(state.editingTeam && state.editingTeam.id); });
  $("tf-color").addEventListener("input", () => { showColorHint(); if (marker) marker.getElement().style.background = $("tf-color").value; });
  $("tf-base").addEventListener("change", (e) => {
    const base = state.bases[Number(e.target.value)];
    if (e.target.value === "" || !base) return;
    $("tf-base-name").value = base.name;
    delete $("tf-base-name").dataset.fromAddress;
    setPoint([base.lon, base.lat], { fly: true });
  });
  document.querySelector("#team-table tbody").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act]");
    if (!button) return;
    const team = state.teams.find((x) => x.id === Number(button.closest("tr").dataset.teamId));
    if (!team) return;
    if (button.dataset.act === "edit") openTeamForm(team);
    else if (button.dataset.act === "phones") {
      $("ph-team").value = String(team.id);
      if (state.pairing && state.pairing.team_id !== team.id) $("pairing").hidden = true;
      state.devices = [];
      showTab("phones", { focus: true });
    } else setTeamActive(team, button.dataset.act === "reactivate");
  });
}

// ------------------------------------------------------------------ phones
async function loadDevices() {
  const teamId = Number($("ph-team").value);
  if (!teamId) {
    state.devices = [];
    renderDevices();
    return;
  }
  try {
    const reply = await call(`/api/devices?team_id=${teamId}&limit=200`, { token: null });
    if (Number($("ph-team").value) !== teamId) return;
    state.devices = reply.items;
    renderDevices();
    if (state.phoneCounts) {
      state.phoneCounts.set(teamId, state.devices.filter((d) => !d.revoked).length);
      renderTeams();
    }
    const pairing = state.pairing;
    if (pairing && pairing.team_id === teamId && state.devices.some((d) => !d.revoked && !pairing.before.has(d.id))) {
      state.pairing = null;
      $("pairing").hidden = true;
      say("phones-status", () => t("phones.pairing.done", { name: teamName(teamId) }));
    } else if (pairing && Date.now() / 1000 + clockOffsetS > pairing.expires_at_s) {
      state.pairing = null;
      $("pairing").hidden = true;
      say("phones-status", () => t("phones.pairing.expired"));
    }
  } catch (err) {
    say("phones-status", () => errorText(err));
  }
}

function renderDevices() {
  const body = document.querySelector("#phone-table tbody");
  if (!state.teams.some((x) => x.active)) {
    body.innerHTML = `<tr><td colspan="5">${escapeHtml(t("phones.noteam"))}</td></tr>`;
    return;
  }
  const devices = [...state.devices].sort((a, b) => Number(a.revoked) - Number(b.revoked) || b.id - a.id);
  if (!devices.some((d) => !d.revoked)) {
    body.innerHTML = `<tr><td colspan="5">${escapeHtml(t("phones.none"))}</td></tr>`;
  } else body.innerHTML = "";
  body.innerHTML += devices.map((d) => {
    const name = deviceName(d);
    return `<tr data-device-id="${d.id}" class="${d.revoked ? "inactive" : ""}">
      <th scope="row">${escapeHtml(name)}</th>
      <td>${escapeHtml(dateTimeOf(d.created_at_s))}</td>
      <td>${d.last_seen_at_s ? `<time datetime="${new Date(d.last_seen_at_s * 1000).toISOString()}" title="${escapeHtml(dateTimeOf(d.last_seen_at_s))}">${escapeHtml(ageOf(d.last_seen_at_s))}</time>` : escapeHtml(t("phones.never"))}</td>
      <td><span class="pill ${d.revoked ? "off" : "on"}">${escapeHtml(t(d.revoked ? "state.phone.revoked" : "state.phone.active"))}</span></td>
      <td class="row-actions">${d.revoked ? "" : `<button type="button" class="danger-outline" data-act="revoke" aria-label="${escapeHtml(t("phones.revoke.label", { name }))}">${escapeHtml(t("phones.revoke"))}</button>`}</td>
    </tr>`;
  }).join("");
}

async function startPairing() {
  const teamId = Number($("ph-team").value);
  if (!teamId) return;
  $("ph-pair").disabled = true;
  try {
    const reply = await call(`/api/teams/${teamId}/pairing`, { method: "POST", token: null });
    state.pairing = { team_id: teamId, code: reply.code, expires_at_s: reply.expires_at_s, before: new Set(state.devices.map((d) => d.id)) };
    $("pairing-code").textContent = reply.code;
    const link = $("pairing-link");
    link.href = reply.link;
    link.textContent = reply.link;
    const qr = $("pairing-qr");
    qr.src = reply.qr_svg_url;
    qr.alt = t("phones.pairing.qr", { name: teamName(teamId) });
    show($("pairing-expiry"), () => t("phones.pairing.expires", { time: timeOf(reply.expires_at_s) }));
    $("pairing").hidden = false;
    $("pairing").dataset.teamId = String(teamId);
    say("phones-status", null);
    $("pairing-code").focus();
  } catch (err) {
    say("phones-status", () => errorText(err));
  } finally {
    $("ph-pair").disabled = false;
  }
}

async function revokeDevice(device) {
  const name = deviceName(device);
  const sure = await confirmAction(
    t("phones.revoke.title", { name, team: teamName(device.team_id) }),
    t("phones.revoke.text"),
    t("phones.revoke"),
  );
  if (!sure) {
    const back = document.querySelector(`#phone-table tr[data-device-id="${device.id}"] [data-act=revoke]`);
    if (back) back.focus();
    return;
  }
  try {
    await call(`/api/devices/${device.id}`, { method: "DELETE", token: null });
    await loadDevices();
    say("phones-status", () => t("phones.revoked", { name }));
  } catch (err) {
    say("phones-status", () => errorText(err));
  }
  $("ph-pair").focus();
}

function setupPhones() {
  $("ph-team").addEventListener("change", () => {
    if (state.pairing && state.pairing.team_id !== Number($("ph-team").value)) $("pairing").hidden = true;
    state.devices = [];
    loadDevices();
  });
  $("ph-pair").addEventListener("click", startPairing);
  document.querySelector("#phone-table tbody").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act=revoke]");
    if (!button) return;
    const device = state.devices.find((d) => d.id === Number(button.closest("tr").dataset.deviceId));
    if (device) revokeDevice(device);
  });
}

// ------------------------------------------------------------------ structures
// The organisations sharing the deployment: administrators create and rename them and choose
// which of them each user works for; each user sees only their structures' records.
async function loadStructures() {
  try {
    const reply = await call("/api/structures", { token: null });
    state.structures = reply.items;
  } catch (err) {
    say("structures-status", () => errorText(err));
    return;
  }
  renderStructures();
  renderStructureChoices();
  if (state.me.role === "admin" && state.users.length) renderUsers();
}

function structureName(id) {
  const found = state.structures.find((x) => x.id === id);
  return found ? found.name : `#${id}`;
}

function renderStructures() {
  const body = document.querySelector("#structure-table tbody");
  if (!state.structures.length) {
    body.innerHTML = `<tr><td colspan="8">${escapeHtml(t("structures.none"))}</td></tr>`;
    return;
  }
  body.innerHTML = state.structures.map((x) => {
    const c = x.counts || {};
    return `<tr data-structure-id="${x.id}">
      <th scope="row">${escapeHtml(x.name)}</th>
      <td>${escapeHtml(t(`skind.${x.kind}`))}</td>
      <td class="num">${escapeHtml(x.finess || "–")}</td>
      <td class="num">${c.users ?? "–"}</td>
      <td class="num">${c.teams ?? "–"}</td>
      <td class="num">${c.patients ?? "–"}</td>
      <td class="num">${c.staff ?? "–"}</td>
      <td class="row-actions"><button type="button" data-act="edit" aria-label="${escapeHtml(t("edit.label", { name: x.name }))}">${escapeHtml(t("edit"))}</button></td>
    </tr>`;
  }).join("");
}

function openStructureForm(structure) {
  state.editingStructure = structure || null;
  $("structure-form").hidden = false;
  show($("structure-error"), null);
  $("structure-form-title").textContent = structure ? t("structures.form.edit", { name: structure.name }) : t("structures.form.new");
  fillSelect($("sf-kind"), STRUCTURE_KINDS, "skind");
  $("sf-name").value = structure ? structure.name : "";
  $("sf-kind").value = structure ? structure.kind : "ssiad";
  $("sf-finess").value = structure ? structure.finess || "" : "";
  $("sf-name").focus();
}

function closeStructureForm(focusId) {
  $("structure-form").hidden = true;
  state.editingStructure = null;
  const back = focusId ? document.querySelector(`#structure-table tr[data-structure-id="${focusId}"] [data-act=edit]`) : null;
  (back || $("structure-new")).focus();
}

async function saveStructure(e) {
  e.preventDefault();
  const editing = state.editingStructure;
  const errorEl = $("structure-error");
  for (const el of $("structure-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const fail = (key, field) => {
    show(errorEl, () => t(key));
    $(field).setAttribute("aria-invalid", "true");
    $(field).focus();
  };
  const name = $("sf-name").value.trim();
  if (!name) return fail("error.structure.name", "sf-name");
  const finess = $("sf-finess").value.trim().toUpperCase();
  if (finess && !FINESS.test(finess)) return fail("error.finess", "sf-finess");
  const body = { name, kind: $("sf-kind").value, finess: finess || null };
  show(errorEl, null);
  $("sf-save").disabled = true;
  try {
    const reply = editing
      ? await call(`/api/structures/${editing.id}`, { method: "PATCH", body, token: null })
      : await call("/api/structures", { method: "POST", body, token: null });
    await loadStructures();
    closeStructureForm(reply.structure.id);
    const saved = reply.structure.name;
    say("structures-status", () => t(editing ? "structures.saved" : "structures.created", { name: saved }));
  } catch (err) {
    show(errorEl, () => errorText(err, "error.conflict.structure"));
  } finally {
    $("sf-save").disabled = false;
  }
}

/** The user form's checkboxes (one per structure, those of the user ticked) and the team
 * form's structure list (shown to a user of several structures, for a new team). */
function renderStructureChoices() {
  const list = $("uf-structure-list");
  const ticked = new Set([...list.querySelectorAll("input:checked")].map((x) => Number(x.value)));
  list.innerHTML = state.structures.map((x) => `<label class="check"><input type="checkbox" name="structure_ids" value="${x.id}"${ticked.has(x.id) ? " checked" : ""}> ${escapeHtml(x.name)}</label>`).join("");
  const mine = state.structures.filter((x) => (state.me.structure_ids || []).includes(x.id));
  const select = $("tf-structure");
  const keep = select.value;
  select.innerHTML = mine.map((x) => `<option value="${x.id}">${escapeHtml(x.name)}</option>`).join("");
  if (mine.some((x) => String(x.id) === keep)) select.value = keep;
}

function tickStructures(ids) {
  for (const box of $("uf-structure-list").querySelectorAll("input")) box.checked = ids.includes(Number(box.value));
}

function setupStructures() {
  $("structure-new").addEventListener("click", () => openStructureForm(null));
  $("sf-cancel").addEventListener("click", () => closeStructureForm(state.editingStructure && state.editingStructure.id));
  $("structure-form").addEventListener("submit", saveStructure);
  $("structure-form").addEventListener("input", clearInvalid);
  $("structure-form").addEventListener("keydown", (e) => { if (e.key === "Escape") closeStructureForm(state.editingStructure && state.editingStructure.id); });
  document.querySelector("#structure-table tbody").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act=edit]");
    if (!button) return;
    const found = state.structures.find((x) => x.id === Number(button.closest("tr").dataset.structureId));
    if (found) openStructureForm(found);
  });
}

// ------------------------------------------------------------------ users
// The rule: no one sets or sees another user's password here. An account is created with the
// user's e-mail address; the server e-mails a one-time link with which the user chooses it.
async function loadUsers() {
  if (!state.me || state.me.role !== "admin") return;
  try {
    const [reply, mail] = await Promise.all([
      call("/api/users?limit=1000", { token: null }),
      call("/api/mail", { token: null }).catch(() => null),
    ]);
    state.users = reply.items;
    if (mail) state.mail = mail.mail;
    renderUsers();
  } catch (err) {
    say("users-status", () => errorText(err));
  }
}

function pending(u) {
  return u.active && !u.has_password && !!u.email;
}

function renderUsers() {
  $("mail-notice").hidden = !state.mail || state.mail.configured;
  const body = document.querySelector("#user-table tbody");
  body.innerHTML = state.users.map((u) => {
    const self = state.me && u.id === state.me.id;
    const label = u.display_name || u.username;
    const toggle = self ? "" : u.active
      ? `<button type="button" data-act="disable" aria-label="${escapeHtml(t("users.disable"))} ${escapeHtml(u.username)}">${escapeHtml(t("users.disable"))}</button>`
      : `<button type="button" data-act="enable" aria-label="${escapeHtml(t("users.enable"))} ${escapeHtml(u.username)}">${escapeHtml(t("users.enable"))}</button>`;
    const stateKey = !u.active ? "state.user.inactive" : pending(u) ? "state.user.pending" : "state.user.active";
    const pill = !u.active ? "off" : pending(u) ? "pending" : "on";
    const email = u.email ? escapeHtml(u.email) : escapeHtml(t("users.noemail"));
    return `<tr data-user-id="${u.id}" class="${u.active ? "" : "inactive"}">
      <th scope="row">${escapeHtml(u.username)}${self ? ` <span class="sub-inline">${escapeHtml(t("users.self"))}</span>` : ""}</th>
      <td>${escapeHtml(label)}<span class="sub">${email}</span></td>
      <td>${escapeHtml(t(`role.${u.role}`))}<span class="sub">${escapeHtml((u.structure_ids || []).map(structureName).join(", ") || "–")}</span></td>
      <td>${u.team_id ? escapeHtml(teamName(u.team_id)) : "–"}</td>
      <td><span class="pill ${pill}">${escapeHtml(t(stateKey))}</span></td>
      <td class="row-actions">
        <button type="button" data-act="edit" aria-label="${escapeHtml(t("edit.label", { name: u.username }))}">${escapeHtml(t("edit"))}</button>
        ${u.active && u.email ? `<button type="button" data-act="link" aria-label="${escapeHtml(t("users.link.label", { name: u.username }))}">${escapeHtml(t("users.link"))}</button>` : ""}
        ${toggle}
      </td>
    </tr>`;
  }).join("");
}

function syncRoleTeam() {
  const member = $("uf-role").value === "team_member";
  $("uf-team-row").hidden = !member;
}

function emailHintKey(user) {
  if (!user) return "user.email.hint.new";
  return user.has_password ? "user.email.hint.locked" : "user.email.hint.pending";
}

function openUserForm(user) {
  state.editingUser = user || null;
  $("user-form").hidden = false;
  show($("user-error"), null);
  $("user-form-title").textContent = user ? t("users.form.edit", { name: user.username }) : t("users.form.new");
  fillSelect($("uf-role"), ROLES, "role");
  $("uf-username").value = user ? user.username : "";
  $("uf-username").disabled = !!user;
  $("uf-display").value = user ? user.display_name || "" : "";
  $("uf-role").value = user ? user.role : "coordinator";
  // An administrator cannot take away their own rights (another administrator can).
  $("uf-role").disabled = !!user && user.id === state.me.id;
  if (user && user.team_id) $("uf-team").value = String(user.team_id);
  // A new user of a deployment with one structure works for it; with several, the admin ticks.
  tickStructures(user ? user.structure_ids || [] : state.structures.length === 1 ? [state.structures[0].id] : []);
  $("uf-email").value = user ? user.email || "" : "";
  // The address of an account in use receives its reset links: only the server changes it.
  $("uf-email").disabled = !!user && user.has_password;
  show($("uf-email-hint"), () => t(emailHintKey(state.editingUser)));
  syncRoleTeam();
  (user ? $("uf-display") : $("uf-username")).focus();
}

function closeUserForm(focusId) {
  $("user-form").hidden = true;
  state.editingUser = null;
  const back = focusId ? document.querySelector(`#user-table tr[data-user-id="${focusId}"] [data-act=edit]`) : null;
  (back || $("user-new")).focus();
}

const EMAIL = /^[^\s@<>,;"']+@[^\s@<>,;"']+\.[^\s@<>,;"']+$/;

async function saveUser(e) {
  e.preventDefault();
  const editing = state.editingUser;
  const errorEl = $("user-error");
  for (const el of $("user-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const fail = (key, field) => {
    show(errorEl, () => t(key));
    $(field).setAttribute("aria-invalid", "true");
    $(field).focus();
  };
  const role = $("uf-role").value;
  const body = $("uf-role").disabled ? {} : { role, team_id: role === "team_member" ? Number($("uf-team").value) || null : null };
  const display = $("uf-display").value.trim();
  if (display) body.display_name = display;
  if (role === "team_member" && !body.team_id) return fail("error.team", "uf-team");
  const structureIds = [...$("uf-structure-list").querySelectorAll("input:checked")].map((x) => Number(x.value)).sort((a, b) => a - b);
  if (!structureIds.length) {
    show(errorEl, () => t("error.structures"));
    const first = $("uf-structure-list").querySelector("input");
    if (first) first.focus();
    return;
  }
  const before = editing ? [...(editing.structure_ids || [])].sort((a, b) => a - b).join(",") : null;
  if (!editing || structureIds.join(",") !== before) body.structure_ids = structureIds;
  if (!editing) {
    body.username = $("uf-username").value.trim();
    if (!USERNAME.test(body.username)) return fail("error.username", "uf-username");
  }
  const email = $("uf-email").value.trim();
  if (!$("uf-email").disabled && (email || (editing && editing.email))) {
    if (!EMAIL.test(email)) return fail("error.email", "uf-email");
    if (!editing || email !== editing.email) body.email = email;
  }
  show(errorEl, null);
  $("uf-save").disabled = true;
  try {
    const reply = editing
      ? await call(`/api/users/${editing.id}`, { method: "PATCH", body, token: null })
      : await call("/api/users", { method: "POST", body, token: null });
    await loadUsers();
    closeUserForm(reply.user.id);
    const name = reply.user.username;
    if (editing) say("users-status", () => t("users.saved", { name }));
    else if (!body.email) say("users-status", () => t("users.created.noemail", { name }));
    else if (reply.mail && reply.mail.sent) say("users-status", () => t("users.created.sent", { name, email: body.email }));
    else say("users-status", () => t("users.created.unsent", { name, error: (reply.mail && reply.mail.error) || "?" }));
    loadAccountEvents();
  } catch (err) {
    show(errorEl, () => errorText(err, "error.conflict.user"));
  } finally {
    $("uf-save").disabled = false;
  }
}

async function setUserActive(user, active) {
  if (!active) {
    const sure = await confirmAction(t("users.disable.title", { name: user.username }), t("users.disable.text"), t("users.disable"));
    if (!sure) return;
  }
  try {
    await call(`/api/users/${user.id}`, { method: "PATCH", body: { active }, token: null });
    await loadUsers();
    say("users-status", () => t(active ? "users.enabled" : "users.disabled", { name: user.username }));
    loadAccountEvents();
  } catch (err) {
    say("users-status", () => errorText(err));
  }
  const back = document.querySelector(`#user-table tr[data-user-id="${user.id}"] [data-act=${active ? "disable" : "enable"}]`);
  if (back) back.focus();
}

/** E-mail the user a one-time link: activation (no password yet) or reset. */
async function sendLink(user) {
  const purpose = user.has_password ? "reset" : "activate";
  const vars = { name: user.username, email: user.email };
  const sure = await confirmAction(t(`users.link.${purpose}.title`, vars), t(`users.link.${purpose}.text`, vars), t("users.link.send"));
  const back = () => {
    const button = document.querySelector(`#user-table tr[data-user-id="${user.id}"] [data-act=link]`);
    if (button) button.focus();
  };
  if (!sure) return back();
  try {
    const reply = await call(`/api/users/${user.id}/password-link`, { method: "POST", body: {}, token: null });
    say("users-status", () => t(`users.link.sent.${reply.purpose}`, vars));
    loadAccountEvents();
  } catch (err) {
    say("users-status", () => errorText(err));
  }
  back();
}

function setupUsers() {
  $("user-new").addEventListener("click", () => openUserForm(null));
  $("uf-cancel").addEventListener("click", () => closeUserForm(state.editingUser && state.editingUser.id));
  $("user-form").addEventListener("submit", saveUser);
  $("user-form").addEventListener("input", clearInvalid);
  $("user-form").addEventListener("change", clearInvalid);
  $("user-form").addEventListener("keydown", (e) => { if (e.key === "Escape") closeUserForm(state.editingUser && state.editingUser.id); });
  $("uf-role").addEventListener("change", syncRoleTeam);
  document.querySelector("#user-table tbody").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act]");
    if (!button) return;
    const user = state.users.find((u) => u.id === Number(button.closest("tr").dataset.userId));
    if (!user) return;
    if (button.dataset.act === "edit") openUserForm(user);
    else if (button.dataset.act === "link") sendLink(user);
    else setUserActive(user, button.dataset.act === "enable");
  });
}

// ------------------------------------------------------------------ account activity
// Coordinators see every action on accounts (what administrators do), and are told on
// arrival how many happened since they last looked.
function seenKey() {
  return `dispatch.accounts.seen.${state.me.id}`;
}

async function loadAccountEvents({ seen = false } = {}) {
  try {
    const reply = await call("/api/account-events", { token: null });
    state.accountEvents = reply.events;
  } catch (err) {
    say("accounts-status", () => errorText(err));
    return;
  }
  if (seen && state.accountEvents.length) localStorage.setItem(seenKey(), String(state.accountEvents[0].at_s));
  renderAccountEvents();
}

function eventActor(e) {
  return e.actor === "cli" ? t("ev.cli") : e.actor_name || e.actor;
}

function eventText(e) {
  const d = e.detail || {};
  if (e.action === "user.create") return t("ev.user.create", { role: d.role ? t(`role.${d.role}`) : "?" });
  if (e.action === "user.update") {
    if (d.role_from && d.role) return t("ev.user.update.role", { from: t(`role.${d.role_from}`), to: t(`role.${d.role}`) });
    if (typeof d.active === "boolean" && Array.isArray(d.fields) && d.fields.length === 1) return t(d.active ? "ev.user.enable" : "ev.user.disable");
    return t("ev.user.update", { fields: (d.fields || []).map((f) => t(`field.${f}`)).join(", ") });
  }
  if (e.action === "user.password_link") {
    const key = `ev.user.password_link.${d.purpose === "reset" ? "reset" : "activate"}`;
    return d.email ? t(`${key}.to`, { email: d.email }) : t(key);
  }
  return t(`ev.${e.action}`);
}

function renderAccountEvents() {
  const body = document.querySelector("#account-table tbody");
  const events = state.accountEvents;
  body.innerHTML = events.length
    ? events.map((e) => `<tr data-event-id="${e.id}">
        <td class="num">${escapeHtml(dateTimeOf(e.at_s))}</td>
        <td>${escapeHtml(eventActor(e))}</td>
        <td>${escapeHtml(eventText(e))}</td>
        <td>${escapeHtml(e.target_name || "–")}</td>
      </tr>`).join("")
    : `<tr><td colspan="4">${escapeHtml(t("accounts.none"))}</td></tr>`;
  // The notice: actions a coordinator has not seen yet (an administrator sees their own).
  const since = Number(localStorage.getItem(seenKey()) || 0);
  const fresh = state.me.role === "coordinator" && state.tab !== "accounts" ? events.filter((e) => e.at_s > since) : [];
  $("accounts-notice").hidden = !fresh.length;
  if (fresh.length) {
    const last = fresh[0];
    show($("accounts-notice-text"), () => t("accounts.notice", {
      n: fresh.length,
      last: `${eventActor(last)} ${eventText(last)}${last.target_name ? ` — ${last.target_name}` : ""}, ${dateTimeOf(last.at_s)}`,
    }));
  }
}

function setupAccounts() {
  $("accounts-notice-open").addEventListener("click", () => showTab("accounts", { focus: true }));
}

// ------------------------------------------------------------------ confirmation
function confirmAction(title, text, okLabel) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// ------------------------------------------------------------------ start
function renderAll() {
  const me = state.me;
  show($("whoami"), () => t("whoami", { name: me.name, role: t(`role.${me.role}`) }));
  renderTeams();
  renderTeamSelects();
  if ($("tf-kind").options.length) {
    fillSelect($("tf-kind"), KINDS, "kind");
    fillSelect($("tf-vehicle"), VEHICLES, "vehicle");
  }
  if (!$("team-form").hidden) {
    renderAddressMatches();
    fillBaseSelect();
    showPoint();
    showColorHint();
    $("team-form-title").textContent = state.editingTeam ? t("teams.form.edit", { name: state.editingTeam.name }) : t("teams.form.new");
  }
  if (!$("user-form").hidden) {
    fillSelect($("uf-role"), ROLES, "role");
    $("user-form-title").textContent = state.editingUser ? t("users.form.edit", { name: state.editingUser.username }) : t("users.form.new");
  }
  if (state.pairing) {
    $("pairing-qr").alt = t("phones.pairing.qr", { name: teamName(state.pairing.team_id) });
  }
  renderDevices();
  renderStructures();
  if (!$("structure-form").hidden) {
    fillSelect($("sf-kind"), STRUCTURE_KINDS, "skind");
    $("structure-form-title").textContent = state.editingStructure ? t("structures.form.edit", { name: state.editingStructure.name }) : t("structures.form.new");
  }
  if (me.role === "admin") renderUsers();
  if (!$("user-form").hidden) show($("uf-email-hint"), () => t(emailHintKey(state.editingUser)));
  renderAccountEvents();
}

async function main() {
  applyTexts();
  $("lang").addEventListener("click", () => setLocale(locale === "fr" ? "en" : "fr"));
  $("login-lang").addEventListener("click", () => setLocale(locale === "fr" ? "en" : "fr"));
  $("logout").addEventListener("click", session.logout);
  const me = await session.start();
  // The session's view of the caller carries the structures they work for.
  state.me = { ...me, ...((await session.whoami().catch(() => null)) || {}) };
  $("logout").hidden = false;
  $("tab-users").hidden = me.role !== "admin";
  $("tab-structures").hidden = me.role !== "admin";
  // The address search is the visit intake's (coordinators only: GET /api/geocode).
  $("tf-address-box").hidden = me.role !== "coordinator";
  state.config = await api("/api/live/config", { token: null }).catch(() => null);
  if (state.config && state.config.territory) $("territory-name").textContent = state.config.territory.name;
  if (state.config && typeof state.config.server_time === "number") clockOffsetS = state.config.server_time - Date.now() / 1000;
  const territory = await api("/api/planning/territory", { token: null }).catch(() => null);
  state.bases = territory && territory.bases ? territory.bases : [];
  setupTabs();
  setupTeams();
  setupPhones();
  setupUsers();
  setupStructures();
  setupAccounts();
  await loadStructures();
  await loadTeams();
  await loadAccountEvents();
  $("main").hidden = false;
  renderAll();
  const wanted = location.hash.slice(1);
  showTab(["teams", "phones", "structures", "users", "accounts"].includes(wanted) && !$(`tab-${wanted}`).hidden ? wanted : "teams");
  // #team-<id> (the map's link for a team left out of planning) opens that team's form.
  const linked = /^team-(\d+)$/.exec(wanted);
  const team = linked && state.teams.find((x) => x.id === Number(linked[1]));
  if (team) openTeamForm(team);
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = t("error.network");
  document.body.append(p);
});
