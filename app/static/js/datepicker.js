/* The date picker in the reader's language, one date style: dd/mm/yyyy (issue 10).
 *
 * Flask-Admin opens bootstrap-daterangepicker (on moment.js) on inputs with
 * data-role="datepicker" and its kin: in its forms and list filters, through
 * form.js. This file takes that over through form.js's field converters, so
 * every picker of the desk
 * - writes and reads the date as the screens show it: 31/12/2026, a range as
 *   01/03/2026 - 31/03/2026 (admin_views/fields.py and filters.py read these,
 *   and ISO for old bookmarks);
 * - speaks the reader's language: moment's "bn" locale below (month and day
 *   names, Bengali digits in and out), the buttons' words from the server
 *   (#date-picker-config, templates/_date_picker.html);
 * - lets a date be typed: the calendar follows what is typed, and the text is
 *   not rewritten under the fingers at each key;
 * - offers Clear on an optional date.
 * Pages without form.js (the register page) get the same picker on their date inputs.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("date-picker-config");
  var $ = window.jQuery;
  var moment = window.moment;
  if (!configNode || !$ || !moment) {
    return;
  }
  var config = JSON.parse(configNode.textContent);
  var labels = config.labels;
  var bengali = config.lang === "bn";

  var BENGALI_DIGITS = "০১২৩৪৫৬৭৮৯";
  // As the server shows dates (app/i18n.py DATE_FORMAT, DATETIME_FORMAT): one style everywhere.
  var FORMATS = {
    datepicker: "DD/MM/YYYY",
    daterangepicker: "DD/MM/YYYY",
    datetimepicker: "DD/MM/YYYY HH:mm",
    datetimerangepicker: "DD/MM/YYYY HH:mm"
  };
  // What is read when typed: the style above (day and month in one or two digits) or ISO.
  var READ = {
    date: ["D/M/YYYY", "YYYY-MM-DD"],
    datetime: ["D/M/YYYY H:mm", "D/M/YYYY H:mm:ss", "YYYY-MM-DD HH:mm:ss", "YYYY-MM-DD HH:mm"]
  };
  // Between the two ends of a range; Flask-Admin's own picker wrote " to ".
  var SEPARATOR = " - ";
  var SEPARATORS = [" - ", " to "];
  // Saturday first, in both languages. Most private businesses in Bangladesh, gyms
  // among them, close on Friday only and work Saturday to Thursday, so a week row
  // that starts on Saturday ends on the weekly holiday, as a Sunday ends a European
  // one. (CLDR starts Bangladesh's week on Sunday, the government's Friday-Saturday
  // weekend; the desk works on Saturdays.)
  var FIRST_DAY = 6;

  function toBengaliDigits(text) {
    return String(text).replace(/[0-9]/g, function (digit) {
      return BENGALI_DIGITS.charAt(Number(digit));
    });
  }

  function toAsciiDigits(text) {
    return String(text).replace(/[০-৯]/g, function (digit) {
      return String(BENGALI_DIGITS.indexOf(digit));
    });
  }

  // moment.js ships no Bengali here (Flask-Admin bundles moment without locales).
  moment.defineLocale("bn", {
    months: "জানুয়ারি_ফেব্রুয়ারি_মার্চ_এপ্রিল_মে_জুন_জুলাই_আগস্ট_সেপ্টেম্বর_অক্টোবর_নভেম্বর_ডিসেম্বর".split("_"),
    monthsShort: "জানু_ফেব্রু_মার্চ_এপ্রিল_মে_জুন_জুলাই_আগস্ট_সেপ্টে_অক্টো_নভে_ডিসে".split("_"),
    weekdays: "রবিবার_সোমবার_মঙ্গলবার_বুধবার_বৃহস্পতিবার_শুক্রবার_শনিবার".split("_"),
    weekdaysShort: "রবি_সোম_মঙ্গল_বুধ_বৃহঃ_শুক্র_শনি".split("_"),
    weekdaysMin: "রবি_সোম_মঙ্গল_বুধ_বৃহঃ_শুক্র_শনি".split("_"),
    longDateFormat: {
      LT: "HH:mm", LTS: "HH:mm:ss", L: "DD/MM/YYYY", LL: "D MMMM YYYY",
      LLL: "D MMMM YYYY HH:mm", LLLL: "dddd, D MMMM YYYY HH:mm"
    },
    week: {dow: FIRST_DAY, doy: 12},
    preparse: toAsciiDigits,
    postformat: toBengaliDigits
  });
  // defineLocale made "bn" the global locale; the reader's language decides.
  moment.locale(bengali ? "bn" : "en");

  function escaped(text) {
    return $("<span>").text(text).html();
  }

  function pickerLocale() {
    return {
      applyLabel: escaped(labels.apply),
      cancelLabel: escaped(labels.cancel),
      fromLabel: escaped(labels.from),
      toLabel: escaped(labels.to),
      daysOfWeek: moment.weekdaysMin(),
      monthNames: moment.months(),
      firstDay: FIRST_DAY
    };
  }

  function isRange(role) {
    return role.indexOf("range") !== -1;
  }

  function withTime(role) {
    return role.indexOf("time") !== -1;
  }

  // The moments typed in `text` ([start, end]; for one date, the same twice), or null.
  function typed(text, role) {
    var parts = [text];
    if (isRange(role)) {
      parts = null;
      for (var i = 0; i < SEPARATORS.length && !parts; i++) {
        var split = String(text).split(SEPARATORS[i]);
        parts = split.length === 2 ? split : null;
      }
      if (!parts) {
        return null;
      }
    }
    var formats = withTime(role) ? READ.datetime : READ.date;
    var dates = parts.map(function (part) {
      return moment(toAsciiDigits(part).trim(), formats, true);
    });
    if (!dates.every(function (date) { return date.isValid(); })) {
      return null;
    }
    var start = dates[0];
    var end = dates[dates.length - 1].clone();
    if (!withTime(role)) {
      start = start.startOf("day");
      end = end.endOf("day");
    }
    return end.isBefore(start) ? null : [start, end];
  }

  // `text` rewritten in the desk's style (an ISO date from an old link), or as it is.
  function normalised(text, role) {
    var dates = typed(text, role);
    if (!dates) {
      return text;
    }
    var format = FORMATS[role];
    var written = dates[0].format(format);
    return isRange(role) ? written + SEPARATOR + dates[1].format(format) : written;
  }

  // The calendar's day numbers, years and hours in Bengali digits (text only, not values).
  function bengaliCalendar(container) {
    container.find("td, th, option").each(function () {
      if (this.children.length === 0 && /[0-9]/.test(this.textContent)) {
        this.textContent = toBengaliDigits(this.textContent);
      }
    });
  }

  function addClear($el, picker) {
    var $clear = $("<button type=\"button\" class=\"btn btn-sm btn-link desk-picker-clear\"></button>")
      .text(labels.clear);
    var $row = $("<div class=\"text-right w-100\"></div>").append($clear);
    // Below the floated calendar; set through the DOM, as the policy allows no style attribute.
    $row.css("clear", "both");
    picker.container.append($row);
    $clear.on("click", function () {
      // Nothing picked: hide() then writes nothing back.
      picker.startDate = picker.oldStartDate.clone();
      picker.endDate = picker.oldEndDate.clone();
      picker.hide();
      $el.val("").trigger("change");
    });
  }

  function openPicker($el, role) {
    var format = FORMATS[role];
    $el.val(normalised($el.val(), role));
    $el.attr("data-date-format", format);
    $el.daterangepicker({
      timePicker: withTime(role),
      timePicker12Hour: false,
      timePickerIncrement: 1,
      showDropdowns: true,
      singleDatePicker: !isRange(role),
      separator: SEPARATOR,
      format: format,
      locale: pickerLocale()
    }, function () {
      // As Flask-Admin's form.js: a list filter shows its Apply button.
      $(".filter-val").trigger("change");
    });
    var picker = $el.data("daterangepicker");

    if (bengali) {
      var updateCalendars = picker.updateCalendars;
      picker.updateCalendars = function () {
        updateCalendars.apply(this, arguments);
        bengaliCalendar(this.container);
      };
      bengaliCalendar(picker.container);
    }

    // The picker's own key handler reads the text loosely and writes it back at
    // each key ("3" becomes 03/05/2026). Here the calendar follows a whole date
    // only; leaving the field writes it in the desk's style.
    $el.off("keyup.daterangepicker").on("keyup.daterangepicker", function () {
      var dates = typed($el.val(), role);
      if (dates) {
        picker.setCustomDates(dates[0], dates[1]);
      }
    });

    if (withTime(role) && !isRange(role)) {
      // As form.js: an empty date and time starts at the current minute.
      $el.on("show.daterangepicker", function () {
        if ($el.val() === "") {
          var now = moment().seconds(0);
          picker.setCustomDates(now, now);
        }
      });
    }

    if (!isRange(role) && !$el.prop("required") && !$el.hasClass("filter-val")) {
      addClear($el, picker);
    }
  }

  function takeOver(form) {
    form.addFieldConverter(function ($el, role) {
      if (!FORMATS[role]) {
        return false;
      }
      openPicker($el, role);
      return true;
    });
  }

  // form.js announces itself before its list filters and forms are styled.
  if (window.faForm) {
    takeOver(window.faForm);
  } else {
    $(document).on("adminFormReady", function () {
      takeOver(window.faForm);
    });
  }

  $(function () {
    if (window.faForm || !$.fn.daterangepicker) {
      return;
    }
    $("input[data-role]").each(function () {
      var $el = $(this);
      var role = $el.attr("data-role");
      if (FORMATS[role]) {
        openPicker($el, role);
      }
    });
  });
})();
