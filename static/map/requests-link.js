// The « Demandes » link of the coordinators' top bars (map, patients, week): its texts, added
// before the page's own module applies them. On the map the links are shown by role: this one
// follows the patients link (both are for coordinators).
import { extend } from "/static/map/i18n.js";

extend({ fr: { "requests.link": "Demandes" }, en: { "requests.link": "Requests" } });

const link = document.getElementById("requests-link");
const twin = document.getElementById("patients-link");
if (link && link.hidden && twin) {
  const follow = () => { link.hidden = twin.hidden; };
  new MutationObserver(follow).observe(twin, { attributes: true, attributeFilter: ["hidden"] });
  follow();
}
